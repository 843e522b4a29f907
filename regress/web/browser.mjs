// The web app's scenario in Debian's chromium (regress/t/32-web.sh starts
// the shim, the SMTP sink and sets PGBANK_WEB_*). One "ok"/"FAIL" line per
// check, "N passed, N failed" at the end; exits 1 if any check failed.
import {execFileSync} from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {chromium} from 'playwright-core';

const BASE = process.env.PGBANK_WEB_URL;
const OTHER_PORT = Number(process.env.PGBANK_WEB_OTHER_PORT);
const MAILDIR = process.env.PGBANK_WEB_MAILDIR;
const SHOTS = process.env.PGBANK_WEB_SHOTS;
const PSQL = process.env.PGBANK_WEB_PSQL || 'psql';
const TAG = Math.random().toString(36).slice(2, 8);
const USER = {username: `web_${TAG}`, full_name: `Web ${TAG}`, email: `web_${TAG}@example.com`, password: 'secret1'};

let passed = 0;
let failed = 0;
function check(name, cond, detail = '') {
	if (cond) {
		passed++;
		console.log(`ok    ${name}`);
	} else {
		failed++;
		console.log(`FAIL  ${name}: ${detail}`);
	}
	return cond;
}

function sql(query) {
	return execFileSync(PSQL, ['-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-c', query], {encoding: 'utf8'}).trim();
}

// The API from outside the browser (no cookies).
async function apiOut(method, p, body, token) {
	const headers = {'Content-Type': 'application/json'};
	if (token) headers.Authorization = `Bearer ${token}`;
	const r = await fetch(BASE + p, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
	let data = null;
	try {
		data = await r.json();
	} catch {
		data = null;
	}
	return {status: r.status, data};
}

// The API from the page: same origin, with the session cookie.
function apiIn(page, method, p, body) {
	return page.evaluate(async ([m, u, b]) => {
		const init = {method: m, credentials: 'same-origin', headers: {'Content-Type': 'application/json'}};
		if (b !== null) init.body = JSON.stringify(b);
		const r = await fetch(u, init);
		let data = null;
		try {
			data = await r.json();
		} catch {
			data = null;
		}
		return {status: r.status, data};
	}, [method, p, body === undefined ? null : body]);
}

async function shot(page, name) {
	await page.screenshot({path: path.join(SHOTS, `${name}.png`), fullPage: true});
}

// Labels for every control, a name for every button (what a screen reader
// needs), on the page as it is now.
async function checkAccessible(page, what) {
	const bad = await page.evaluate(() => {
		const out = [];
		for (const el of document.querySelectorAll('main input, main select, main textarea'))
			if (!el.labels || el.labels.length === 0) out.push(`${el.tagName} ${el.name}`);
		for (const b of document.querySelectorAll('button'))
			if (!(b.getAttribute('aria-label') || b.textContent.trim())) out.push('a button without a name');
		return out;
	});
	check(`${what}: every control is labelled`, bad.length === 0, bad.join(', '));
	// WCAG AA: text against its background at least 4.5:1 (3:1 for large text)
	const low = await page.evaluate(() => {
		const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
		const lum = ([r, g, b]) => {
			const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
			return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
		};
		const background = (el) => {
			for (; el; el = el.parentElement) {
				const c = rgb(getComputedStyle(el).backgroundColor);
				if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
			}
			return [255, 255, 255];
		};
		const out = [];
		for (const el of document.querySelectorAll('body *')) {
			const text = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
			const st = getComputedStyle(el);
			if (!text || st.visibility === 'hidden' || st.display === 'none' || !el.getClientRects().length) continue;
			const a = lum(rgb(st.color).slice(0, 3));
			const b = lum(background(el));
			const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
			const large = parseFloat(st.fontSize) >= 24 || (parseFloat(st.fontSize) >= 18.66 && Number(st.fontWeight) >= 700);
			if (ratio < (large ? 3 : 4.5)) out.push(`${el.tagName} "${el.textContent.trim().slice(0, 20)}" ${ratio.toFixed(2)}`);
		}
		return out;
	});
	check(`${what}: text contrast at least 4.5:1`, low.length === 0, low.join(', '));
}

// The verification email of an address, from the SMTP sink's files.
async function waitForMail(address, seconds) {
	for (let i = 0; i < seconds * 2; i++) {
		for (const f of fs.readdirSync(MAILDIR).filter((n) => n.endsWith('.eml'))) {
			const text = fs.readFileSync(path.join(MAILDIR, f), 'utf8');
			if (text.includes(`X-Envelope-To: ${address}\r\n`)) return text;
		}
		// the pg_cron job runs once a minute; the same delivery, now
		if (i % 10 === 0) sql('CALL pgbank.run_outbox(10)');
		await new Promise((r) => setTimeout(r, 500));
	}
	return null;
}

// A value within a field's bounds; i-th result of a game.
function valueFor(game, f, i) {
	if (f.values) return f.values[i % f.values.length];
	if (f.name === game.placement_field) return String(i === 0 ? 1 : 2 + i);
	switch (f.type) {
	case 'date':
		return `2024-03-0${i + 1}`;
	case 'integer':
		return String(Math.min(f.max, f.min + 3 + 5 * i));
	case 'text[]':
		return 'mate_a, mate_b';
	default:
		return i % 2 ? 'Bravo' : 'Alpha';
	}
}

async function addResult(page, game, i) {
	for (const f of game.fields.filter((x) => !x.derived_from)) {
		const sel = `#result-form [name="${f.name}"]`;
		if (f.values) await page.selectOption(sel, valueFor(game, f, i));
		else await page.fill(sel, valueFor(game, f, i));
	}
	const resp = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/v1/games/${game.slug}/results`));
	await page.click('#result-form button[type=submit]');
	const r = await resp;
	await page.waitForFunction(() => document.querySelector('#result-form-title').textContent === 'Add a result');
	if (r.status() !== 200) console.log(`      add ${game.slug} #${i}: ${r.status()} ${await r.text()}`);
	return r.status() === 200 ? (await r.json()).id : null;
}

// The page's summary and tables against GET /v1/games/{game}/table.
async function compareTable(page, game) {
	await page.waitForLoadState('networkidle');
	const api = (await apiIn(page, 'GET', `/v1/games/${game.slug}/table`)).data;
	const shown = await page.evaluate(() => {
		const read = (id) => Object.fromEntries([...document.querySelectorAll(`#${id} dd`)].map((d) => [d.dataset.key, d.textContent]));
		return {
			headline: read('summary-headline'), totals: read('summary-totals'), averages: read('summary-averages'),
			breakdown: document.querySelectorAll('#breakdown tbody tr').length,
			rows: document.querySelectorAll('#table-rows tbody tr').length,
		};
	});
	const s = api.summary;
	const want = {matches: s.matches, wins: s.wins, losses: s.losses};
	if (s.best_placement !== undefined) want.best_placement = s.best_placement;
	const same = (a, b) => Object.keys(b).length === Object.keys(a).length &&
		Object.entries(b).every(([k, v]) => a[k] === String(v));
	check(`${game.slug}: the summary's matches, wins, losses equal the API's`, same(shown.headline, want),
		`${JSON.stringify(shown.headline)} vs ${JSON.stringify(want)}`);
	check(`${game.slug}: the totals equal the API's`, same(shown.totals, s.totals),
		`${JSON.stringify(shown.totals)} vs ${JSON.stringify(s.totals)}`);
	check(`${game.slug}: the averages equal the API's`, same(shown.averages, s.averages),
		`${JSON.stringify(shown.averages)} vs ${JSON.stringify(s.averages)}`);
	check(`${game.slug}: the breakdown and the rows are the API's`,
		shown.breakdown === s.breakdown.length && shown.rows === api.rows.length,
		`${shown.breakdown}/${s.breakdown.length} ${shown.rows}/${api.rows.length}`);
	return api;
}

async function gameScenario(page, game) {
	await page.goto(`${BASE}/#/games/${game.slug}`);
	await page.waitForFunction((name) => document.querySelector('main h1')?.textContent === name &&
		document.querySelector('#result-form'), game.name);
	await checkAccessible(page, `game ${game.slug}`);
	const ids = [];
	for (let i = 0; i < 3; i++) ids.push(await addResult(page, game, i));
	check(`${game.slug}: results added from the form built from the registry`, ids.every((x) => x), JSON.stringify(ids));

	// edit the first: a number field that is not the placement
	const num = game.fields.find((f) => f.type === 'integer' && f.name !== game.placement_field);
	await page.click(`button[aria-label="Edit result ${ids[0]}"]`);
	await page.waitForFunction((id) => document.querySelector('#result-form-title').textContent === `Edit result ${id}`, ids[0]);
	await page.fill(`#result-form [name="${num.name}"]`, String(num.max));
	const patched = page.waitForResponse((r) => r.request().method() === 'PATCH');
	await page.click('#result-form button[type=submit]');
	check(`${game.slug}: edit saved (PATCH 200)`, (await patched).status() === 200);

	// delete the second
	const deleted = page.waitForResponse((r) => r.request().method() === 'DELETE');
	await page.click(`button[aria-label="Delete result ${ids[1]}"]`);
	check(`${game.slug}: delete (DELETE 200)`, (await deleted).status() === 200);
	await page.waitForSelector(`#results tr[data-id="${ids[1]}"]`, {state: 'detached'});

	const api = await compareTable(page, game);
	const edited = api.rows.find((r) => r.id === ids[0]);
	check(`${game.slug}: the API has the edit and not the deleted result`,
		edited && edited[num.name] === num.max && !api.rows.some((r) => r.id === ids[1]) && api.rows.length === 2,
		JSON.stringify(api.rows.map((r) => [r.id, r[num.name]])));
	await shot(page, `06-game-${game.slug}`);
	return ids;
}

async function pagingAndFilter(page, game) {
	// four more results in 2023, by the API, then page and filter in the page
	for (let i = 0; i < 4; i++) {
		const body = {};
		for (const f of game.fields.filter((x) => !x.derived_from)) {
			let v = valueFor(game, f, i);
			if (f.type === 'integer') v = Number(v);
			if (f.type === 'text[]') v = v.split(', ');
			if (f.type === 'date') v = `2023-01-0${i + 1}`;
			body[f.name] = v;
		}
		await apiIn(page, 'POST', `/v1/games/${game.slug}/results`, body);
	}
	await page.goto(`${BASE}/#/accounts`);
	await page.waitForSelector('#accounts');
	await page.goto(`${BASE}/#/games/${game.slug}`);
	await page.waitForSelector('#results tbody tr[data-id]');
	const rows = () => page.locator('#results tbody tr[data-id]').count();
	check(`${game.slug}: the first page has 5 results`, await rows() === 5, String(await rows()));
	await page.click('text=Next page');
	await page.waitForFunction(() => document.querySelector('.pager span').textContent === 'Page 2');
	check(`${game.slug}: the second page has the sixth`, await rows() === 1, String(await rows()));
	await page.click('text=Previous page');
	await page.waitForFunction(() => document.querySelector('.pager span').textContent === 'Page 1');
	await page.fill('#filter [name=from]', '2023-01-01');
	await page.fill('#filter [name=to]', '2023-12-31');
	await page.click('#filter button[type=submit]');
	await page.waitForFunction(() => document.querySelectorAll('#results tbody tr[data-id]').length === 4);
	const dates = await page.$$eval('#results tbody tr[data-id]', (trs) => trs.map((tr) => tr.children[1].textContent));
	check(`${game.slug}: the date filter shows the 2023 results only`, dates.length === 4 && dates.every((d) => d.startsWith('2023-')),
		JSON.stringify(dates));
	await compareTable(page, game);
}

// The transfer form's error texts, once they match `want` (the page renders
// them after the answer arrives, so reading at once races it) or after 5 s.
async function transferErrors(page, want) {
	const texts = (re) => {
		const t = [...document.querySelectorAll('#transfer .form-error, #transfer .field-error')]
			.map((e) => e.textContent).join(' ').trim();
		return re === null ? t : new RegExp(re, 'i').test(t);
	};
	await page.waitForFunction(texts, want.source, {timeout: 5000}).catch(() => {});
	return page.evaluate(texts, null);
}

async function accountsScenario(page) {
	// the money: a banker deposits into the user's account, by the API
	const banker = {username: `banker_${TAG}`, full_name: 'Banker', email: `banker_${TAG}@example.com`, password: 'secret1'};
	const payee = {username: `payee_${TAG}`, full_name: 'Payee', email: `payee_${TAG}@example.com`, password: 'secret1'};
	for (const u of [banker, payee]) await apiOut('POST', '/users', u);
	sql(`INSERT INTO pgbank.user_roles (username, role) VALUES ('${banker.username}', 'banker')`);
	const btok = (await apiOut('POST', '/users/login', {username: banker.username, password: 'secret1'})).data.access_token;
	const ptok = (await apiOut('POST', '/users/login', {username: payee.username, password: 'secret1'})).data.access_token;
	const payeeAccount = (await apiOut('POST', '/accounts', {currency: 'USD'}, ptok)).data;

	await page.goto(`${BASE}/#/accounts`);
	await page.waitForSelector('#open-account');
	await checkAccessible(page, 'accounts');
	for (const c of ['USD', 'EUR']) {
		await page.fill('#open-account [name=currency]', c);
		const r = page.waitForResponse((x) => x.request().method() === 'POST' && x.url().endsWith('/accounts'));
		await page.click('#open-account button[type=submit]');
		check(`accounts: opened a ${c} account`, (await r).status() === 200);
	}
	await page.waitForFunction(() => document.querySelectorAll('#accounts tbody tr[data-id]').length === 2);
	const mine = (await apiIn(page, 'GET', '/accounts?page_id=1&page_size=10')).data;
	const usd = mine.find((a) => a.currency === 'USD');
	const eur = mine.find((a) => a.currency === 'EUR');
	const dep = await apiOut('POST', '/deposits', {account_id: usd.id, amount: 5000, reference: `web-${TAG}`}, btok);
	check('accounts: the banker deposited 50.00', dep.status === 200, JSON.stringify(dep.data));
	await page.reload();
	await page.waitForSelector(`#accounts tr[data-id="${usd.id}"]`);
	check('accounts: the balance shows the deposit', (await page.textContent(`#accounts tr[data-id="${usd.id}"] [data-key=balance]`)) === '50.00');

	const transfer = async (to, amount, currency) => {
		await page.selectOption('#transfer [name=from_account_id]', String(usd.id));
		await page.fill('#transfer [name=to_account_id]', String(to));
		await page.fill('#transfer [name=amount]', String(amount));
		await page.fill('#transfer [name=currency]', currency);
		const r = page.waitForResponse((x) => x.request().method() === 'POST' && x.url().endsWith('/transfers'));
		await page.click('#transfer button[type=submit]');
		const resp = await r;
		await page.waitForLoadState('networkidle');
		return resp.status();
	};
	check('accounts: a transfer of 12.34 answers 200', await transfer(payeeAccount.id, 1234, 'USD') === 200);
	await page.waitForFunction((id) => document.querySelector(`#accounts tr[data-id="${id}"] [data-key=balance]`)?.textContent === '37.66', usd.id);
	check('accounts: the page shows the transfer and the new balance',
		/Transfer \d+ done: 12\.34 USD/.test(await page.textContent('#transfer-result')));
	const payeeNow = (await apiOut('GET', `/accounts/${payeeAccount.id}`, undefined, ptok)).data;
	check('accounts: the payee got it (API)', payeeNow.balance === 1234, JSON.stringify(payeeNow));

	check('accounts: too much answers 422', await transfer(payeeAccount.id, 999999, 'USD') === 422);
	const err = await transferErrors(page, /insufficient funds/i);
	check('accounts: the form shows the insufficient-funds error', /insufficient funds/i.test(err), err);
	await shot(page, '08-accounts-insufficient-funds');
	check('accounts: another currency answers 400', await transfer(eur.id, 100, 'USD') === 400);
	const err2 = await transferErrors(page, /different currencies/i);
	check('accounts: the form shows the currency error', /different currencies/i.test(err2), err2);
	await shot(page, '08-accounts-currency');
	return {usd, btok};
}

async function swaggerScenario(context, token) {
	const page = await context.newPage();
	await page.goto(`${BASE}/swagger`);
	check('/swagger redirects to /swagger/', page.url() === `${BASE}/swagger/`, page.url());
	await page.waitForSelector('#operations-default-getGameTable', {timeout: 20000});
	await page.click('button.authorize');
	await page.fill('.auth-container input', token);
	await page.click('.auth-btn-wrapper button.authorize');
	await page.click('.auth-btn-wrapper button.btn-done');
	await page.click('#operations-default-getGameTable .opblock-summary');
	await page.click('#operations-default-getGameTable button.try-out__btn');
	// {game} is any registered slug (the document lists none): typed in
	await page.fill('#operations-default-getGameTable tr[data-param-name="game"] input', 'apex');
	const resp = page.waitForResponse((r) => r.url().endsWith('/v1/games/apex/table'));
	await page.click('#operations-default-getGameTable button.execute');
	const r = await resp;
	check('Swagger UI: Try it out with the bearer token answers 200', r.status() === 200 &&
		r.request().headers().authorization === `Bearer ${token}`, `${r.status()} ${JSON.stringify(r.request().headers())}`);
	await page.waitForSelector('#operations-default-getGameTable .live-responses-table tr.response .response-col_status');
	const shown = await page.textContent('#operations-default-getGameTable .live-responses-table tr.response .response-col_status');
	check('Swagger UI shows the 200', shown.trim().startsWith('200'), shown);
	await shot(page, '09-swagger');
	await page.close();
}

// A form on another origin posting to the API (text/plain makes a JSON
// body): the user's cookie must not let it write.
async function crossSite(context, host, want, what) {
	const server = http.createServer((req, res) => {
		res.writeHead(200, {'Content-Type': 'text/html'});
		res.end(`<!DOCTYPE html><title>elsewhere</title>
<form method="POST" action="${BASE}/accounts" enctype="text/plain">
<input name='{"currency":"CAD","x":"' value='"}'></form>
<script>document.forms[0].submit()</script>`);
	});
	await new Promise((r) => server.listen(OTHER_PORT, '127.0.0.1', r));
	const page = await context.newPage();
	const resp = page.waitForResponse((r) => r.url() === `${BASE}/accounts` && r.request().method() === 'POST');
	await page.goto(`http://${host}:${OTHER_PORT}/`);
	const r = await resp;
	check(`a cross-site form post from ${what} is refused (${want})`, r.status() === want, `${r.status()} ${await r.text()}`);
	await shot(page, `10-cross-site-${host}`);
	await page.close();
	await new Promise((r) => server.close(r));
}

async function main() {
	fs.mkdirSync(SHOTS, {recursive: true});
	const browser = await chromium.launch({executablePath: '/usr/bin/chromium', args: ['--no-sandbox']});
	const context = await browser.newContext({viewport: {width: 1280, height: 900}});
	const violations = [];
	await context.exposeBinding('reportCsp', (_src, v) => violations.push(v));
	await context.addInitScript(() => {
		document.addEventListener('securitypolicyviolation',
			(e) => window.reportCsp(`${location.pathname}: ${e.violatedDirective} ${e.blockedURI}`));
	});
	context.on('console', (m) => {
		if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
	});
	const page = await context.newPage();
	try {
		// sign up: a field error beside its field, then the real one
		await page.goto(`${BASE}/#/signup`);
		await page.waitForSelector('form');
		await checkAccessible(page, 'sign up');
		await page.fill('[name=username]', 'x');
		await page.fill('[name=full_name]', USER.full_name);
		await page.fill('[name=email]', USER.email);
		await page.fill('[name=password]', USER.password);
		await page.click('button[type=submit]');
		await page.waitForSelector('[data-field=username] .field-error:not(:empty)');
		check('sign up: the API\'s field error shows beside the username',
			/invalid username/.test(await page.textContent('[data-field=username] .field-error')) &&
			await page.getAttribute('[name=username]', 'aria-invalid') === 'true');
		await shot(page, '01-signup-field-error');
		await page.fill('[name=username]', USER.username);
		await page.click('button[type=submit]');
		await page.waitForSelector('text=We sent a link');
		check('sign up: done', true);
		await shot(page, '02-signup-done');
		for (const [k, v] of Object.entries({...USER, email: `other_${TAG}@example.com`})) await page.fill(`[name=${k}]`, v);
		await page.click('button[type=submit]');
		await page.waitForSelector('[data-field=username] .field-error:not(:empty)');
		check('sign up again: "already exists" shows beside the username',
			/already exists/.test(await page.textContent('[data-field=username] .field-error')));

		// the email, from the SMTP sink; its link opens the landing page
		const mail = await waitForMail(USER.email, 90);
		const text = (mail || '').replace(/=\r?\n/g, '').replace(/=3D/g, '=');
		const m = /(http:\/\/\S+\/v1\/verify_email\?email_id=\d+&secret_code=[\w-]+)/.exec(text);
		check('the verification email arrived with its link', m, text.slice(0, 300));
		await page.goto(m[1]);
		await page.waitForSelector('#verify-result.notice, #verify-result.form-error');
		check('the landing page verifies the email', /verified/.test(await page.textContent('#verify-result')),
			await page.textContent('#verify-result'));
		check('the user is verified (database)',
			sql(`SELECT is_email_verified FROM pgbank.users WHERE username = '${USER.username}'`) === 't');
		await shot(page, '03-verify-email');

		// sign in with the keyboard only
		await page.goto(`${BASE}/#/signin`);
		await page.waitForSelector('[name=username]');
		await checkAccessible(page, 'sign in');
		await page.focus('[name=username]');
		await page.keyboard.type(USER.username);
		await page.keyboard.press('Tab');
		await page.keyboard.type(USER.password);
		await shot(page, '04-signin');
		await page.keyboard.press('Enter');
		await page.waitForSelector('#whoami');
		check('signed in: the navigation names the user', await page.textContent('#whoami') === USER.username);
		const cookies = await context.cookies(BASE);
		const access = cookies.find((c) => c.name === 'pgbank_access');
		const refresh = (await context.cookies(`${BASE}/v1/session`)).find((c) => c.name === 'pgbank_refresh');
		check('the session cookies are HttpOnly and SameSite=Strict', access && refresh &&
			access.httpOnly && refresh.httpOnly && access.sameSite === 'Strict' && refresh.sameSite === 'Strict' &&
			refresh.path === '/v1/session', JSON.stringify(cookies));
		const left = refresh ? refresh.expires - Date.now() / 1000 : 0;
		check('the refresh cookie lasts 24 hours', Math.abs(left - 86400) < 120, String(left));
		check('no script can read the cookies', await page.evaluate(() => document.cookie) === '');
		await page.waitForSelector('.cards');
		await shot(page, '05-games');

		// the games, from the registry
		const games = (await apiIn(page, 'GET', '/v1/games')).data.games;
		check('GET /v1/games lists the three games', games.map((g) => g.slug).join() === 'apex,fortnite,hots');
		for (const g of games) await gameScenario(page, g);
		await pagingAndFilter(page, games[0]);

		// phone width: one column, nothing wider than the screen
		await page.setViewportSize({width: 390, height: 844});
		await page.goto(`${BASE}/#/games/${games[0].slug}`);
		await page.waitForSelector('#results tbody tr[data-id]');
		const wide = await page.evaluate(() => document.documentElement.scrollWidth);
		check('phone width: the page is no wider than the screen', wide <= 390, String(wide));
		await shot(page, '07-game-phone');
		await page.setViewportSize({width: 1280, height: 900});

		const {btok} = await accountsScenario(page);

		// signed in across a reload, and past the access token's end
		await page.reload();
		await page.waitForSelector('#whoami');
		check('a reload keeps the user signed in', await page.textContent('#whoami') === USER.username);
		sql(`UPDATE pgbank.access_tokens SET revoked_at = now() WHERE username = '${USER.username}' AND revoked_at IS NULL`);
		await page.reload();
		await page.waitForSelector('#whoami');
		const renewed = (await context.cookies(BASE)).find((c) => c.name === 'pgbank_access');
		check('once the access token is gone, the refresh cookie renews it',
			renewed && renewed.value !== access.value &&
			(await apiIn(page, 'GET', '/accounts?page_id=1&page_size=10')).status === 200);

		// a form on another site may not use the cookie
		await crossSite(context, '127.0.0.1', 403, 'another origin of the same site (Origin check)');
		await crossSite(context, 'localhost', 401, 'another site (SameSite: no cookie)');
		const cad = (await apiIn(page, 'GET', '/accounts?page_id=1&page_size=10')).data.filter((a) => a.currency === 'CAD');
		check('no account was opened by the cross-site posts', cad.length === 0, JSON.stringify(cad));

		await swaggerScenario(context, btok);

		// the detector of violations works: an inline script is one
		const before = violations.length;
		await page.addScriptTag({content: 'window.inlineRan = true'}).catch(() => null);
		await page.waitForTimeout(300);
		check('an inline script is refused by the CSP (the detector works)',
			violations.length > before && !(await page.evaluate(() => window.inlineRan)), String(violations.length - before));
		violations.splice(before);

		// sign out: refused afterwards, the old token revoked on the server
		await page.goto(`${BASE}/#/games`);
		await page.waitForSelector('#signout');
		await page.click('#signout');
		await page.waitForSelector('text=You are signed out.');
		await shot(page, '11-signed-out');
		check('signed out: the API refuses the page (401)',
			(await apiIn(page, 'GET', '/accounts?page_id=1&page_size=10')).status === 401);
		check('signed out: the old access token is revoked on the server',
			(await apiOut('GET', '/accounts?page_id=1&page_size=10', undefined, renewed.value)).status === 401);
		await page.reload();
		await page.waitForSelector('#nav a[href="#/signin"]');
		check('signed out: a reload stays signed out', await page.locator('#whoami').count() === 0);

		check('no Content-Security-Policy violation on any page', violations.length === 0, violations.join('; '));
	} catch (e) {
		check('the scenario ran to its end', false, e.stack);
		await shot(page, '99-failure').catch(() => null);
	} finally {
		await browser.close();
	}
	console.log(`web: ${passed} passed, ${failed} failed`);
	process.exit(failed ? 1 : 0);
}

await main();
