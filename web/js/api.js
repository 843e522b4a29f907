// The API, called from the page: same origin, the session cookie (set by
// POST /v1/session, HttpOnly: this script never sees a token) carries the
// user. A 401 renews the access token once from the refresh cookie
// (GET /v1/session) and retries.

export class ApiError extends Error {
	constructor(status, body) {
		super((body && body.error) || `HTTP ${status}`);
		this.status = status;
		this.code = body && body.code;
		const m = body && /^Field: ([A-Za-z0-9_.\[\]]+)\.$/.exec(body.details || '');
		this.field = m ? m[1] : null;
	}
}

async function send(method, path, body) {
	const init = {method, credentials: 'same-origin', headers: {Accept: 'application/json'}};
	if (body !== undefined) {
		init.headers['Content-Type'] = 'application/json';
		init.body = JSON.stringify(body);
	}
	const resp = await fetch(path, init);
	let data = null;
	try {
		data = await resp.json();
	} catch {
		data = null;
	}
	return {status: resp.status, ok: resp.ok, data};
}

export async function api(method, path, body) {
	let r = await send(method, path, body);
	if (r.status === 401 && !path.startsWith('/v1/session')) {
		const renewed = await send('GET', '/v1/session');
		if (renewed.ok) r = await send(method, path, body);
	}
	if (!r.ok) throw new ApiError(r.status, r.data);
	return r.data;
}

// The signed-in user, or null.
export async function currentUser() {
	try {
		return (await api('GET', '/v1/session')).user;
	} catch (e) {
		if (e.status === 401) return null;
		throw e;
	}
}

export function query(params) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params)) if (v !== '' && v !== null && v !== undefined) q.set(k, v);
	const s = q.toString();
	return s ? `?${s}` : '';
}
