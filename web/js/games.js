// Game results: the games of the registry (GET /v1/games), and for one
// game a form built from its fields, the list (paging, date filter) with
// edit and delete, and the table with its summary.
import {api, query} from './api.js';
import {h, field, showError, clearErrors, announce} from './dom.js';

let registry = null;

async function games() {
	if (!registry) registry = (await api('GET', '/v1/games')).games;
	return registry;
}

const label = (name) => name.charAt(0).toUpperCase() + name.slice(1).replace(/_/g, ' ');

export async function gamesView() {
	const list = await games();
	return [h('h1', {}, 'Game results'),
		h('ul', {class: 'cards'}, list.map((g) => h('li', {class: 'panel'},
			h('a', {href: `#/games/${g.slug}`}, g.name),
			h('p', {class: 'hint'}, `${g.fields.filter((f) => !f.derived_from).length} fields; broken down by ${g.breakdown_field}`))))];
}

// The fields a client sends: every field of the registry but the derived.
function inputFields(game) {
	return game.fields.filter((f) => !f.derived_from);
}

// One input from a field's description (type, bounds, allowed values).
function inputFor(f) {
	const common = {name: f.name, required: !!f.required};
	if (f.values) {
		return h('select', common, h('option', {value: ''}, '(choose)'),
			f.values.map((v) => h('option', {value: v}, v)));
	}
	switch (f.type) {
	case 'integer':
		return h('input', {...common, type: 'number', inputmode: 'numeric', step: 1, min: f.min, max: f.max});
	case 'date':
		return h('input', {...common, type: 'date', min: f.min, max: f.max});
	default:
		return h('input', {...common, type: 'text', maxlength: f.max_length});
	}
}

function hintFor(f) {
	if (f.type === 'text[]') return `comma-separated, at most ${f.max_items ?? 'any'}`;
	if (f.type === 'integer' && f.min !== undefined) return `${f.min} to ${f.max}`;
	return null;
}

// The body of a form: integers as numbers, lists as arrays, empty left out.
function bodyOf(form, game) {
	const body = {};
	for (const f of inputFields(game)) {
		const raw = form.elements[f.name].value.trim();
		if (raw === '') continue;
		if (f.type === 'integer') body[f.name] = Number(raw);
		else if (f.type === 'text[]') body[f.name] = raw.split(',').map((s) => s.trim()).filter(Boolean);
		else body[f.name] = raw;
	}
	return body;
}

function fill(form, game, row) {
	for (const f of inputFields(game)) {
		const v = row ? row[f.name] : '';
		form.elements[f.name].value = Array.isArray(v) ? v.join(', ') : (v ?? '');
	}
}

function cell(v) {
	return Array.isArray(v) ? v.join(', ') : (v ?? '');
}

export async function gameView(slug) {
	const game = (await games()).find((g) => g.slug === slug);
	if (!game) return [h('h1', {}, 'Unknown game'), h('p', {}, h('a', {href: '#/games'}, 'All games'))];
	const shown = game.fields.map((f) => f.name);
	const state = {page: 1, size: 5, from: '', to: '', editing: null};

	// the add/edit form
	const title = h('h2', {id: 'result-form-title'}, 'Add a result');
	const submit = h('button', {type: 'submit'}, 'Add result');
	const cancel = h('button', {type: 'button', class: 'secondary', hidden: true}, 'Cancel edit');
	const form = h('form', {novalidate: true, 'aria-labelledby': 'result-form-title', id: 'result-form'},
		h('p', {class: 'form-error', role: 'alert'}),
		inputFields(game).map((f) => field(label(f.name), inputFor(f), hintFor(f))),
		h('div', {class: 'actions'}, submit, cancel));
	const setEditing = (row) => {
		state.editing = row ? row.id : null;
		title.textContent = row ? `Edit result ${row.id}` : 'Add a result';
		submit.textContent = row ? 'Save changes' : 'Add result';
		cancel.hidden = !row;
		clearErrors(form);
		fill(form, game, row);
	};
	cancel.addEventListener('click', () => setEditing(null));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearErrors(form);
		try {
			const base = `/v1/games/${game.slug}/results`;
			if (state.editing) await api('PATCH', `${base}/${state.editing}`, bodyOf(form, game));
			else await api('POST', base, bodyOf(form, game));
			announce(state.editing ? `Result ${state.editing} saved.` : 'Result added.');
			setEditing(null);
			await refresh();
		} catch (e) {
			showError(form, e);
		}
	});

	// the list, with its filter and pager
	const listBody = h('tbody');
	const pageInfo = h('span', {'aria-live': 'polite'});
	const prev = h('button', {type: 'button', class: 'secondary'}, 'Previous page');
	const next = h('button', {type: 'button', class: 'secondary'}, 'Next page');
	const filter = h('form', {class: 'inline', 'aria-label': 'Filter by date', id: 'filter'},
		h('p', {class: 'form-error', role: 'alert'}),
		field('From', h('input', {type: 'date', name: 'from'})),
		field('To', h('input', {type: 'date', name: 'to'})),
		h('button', {type: 'submit'}, 'Filter'));
	filter.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearErrors(filter);
		state.from = filter.elements.from.value;
		state.to = filter.elements.to.value;
		state.page = 1;
		try {
			await refresh();
		} catch (e) {
			showError(filter, e);
		}
	});
	prev.addEventListener('click', () => { state.page -= 1; refresh(); });
	next.addEventListener('click', () => { state.page += 1; refresh(); });

	// the table and its summary
	const tableBox = h('div', {id: 'game-table'});

	async function refresh() {
		const page = await api('GET', `/v1/games/${game.slug}/results` +
			query({page_id: state.page, page_size: state.size, from: state.from, to: state.to}));
		listBody.replaceChildren(...page.results.map((row) => h('tr', {'data-id': row.id},
			h('td', {class: 'num'}, row.id),
			shown.map((n) => h('td', {class: typeof row[n] === 'number' ? 'num' : null}, cell(row[n]))),
			h('td', {}, h('div', {class: 'actions'},
				h('button', {type: 'button', class: 'secondary', 'aria-label': `Edit result ${row.id}`,
					onclick: () => { setEditing(row); form.elements[inputFields(game)[0].name].focus(); }}, 'Edit'),
				h('button', {type: 'button', class: 'danger', 'aria-label': `Delete result ${row.id}`,
					onclick: async () => {
						await api('DELETE', `/v1/games/${game.slug}/results/${row.id}`);
						announce(`Result ${row.id} deleted.`);
						if (state.editing === row.id) setEditing(null);
						await refresh();
					}}, 'Delete'))))));
		if (page.results.length === 0)
			listBody.replaceChildren(h('tr', {}, h('td', {colspan: shown.length + 2}, 'No results.')));
		pageInfo.textContent = `Page ${state.page}`;
		prev.disabled = state.page <= 1;
		next.disabled = page.results.length < state.size;
		tableBox.replaceChildren(...renderTable(await api('GET', `/v1/games/${game.slug}/table`), game));
	}
	await refresh();

	return [h('h1', {}, game.name),
		h('section', {class: 'panel'}, title, form),
		h('section', {'aria-labelledby': 'list-title'}, h('h2', {id: 'list-title'}, 'Your results'), filter,
			h('div', {class: 'table-wrap'}, h('table', {id: 'results'},
				h('caption', {}, `${game.name} results, newest first`),
				h('thead', {}, h('tr', {}, h('th', {scope: 'col', class: 'num'}, 'Id'),
					shown.map((n) => h('th', {scope: 'col'}, label(n))), h('th', {scope: 'col'}, 'Actions'))),
				listBody)),
			h('div', {class: 'pager'}, prev, pageInfo, next)),
		h('section', {'aria-labelledby': 'table-title'}, h('h2', {id: 'table-title'}, 'Table and summary'), tableBox)];
}

function numbers(title, obj, id) {
	return h('div', {class: 'panel summary', id},
		h('h3', {}, title),
		h('dl', {}, Object.entries(obj || {}).map(([k, v]) => [h('dt', {}, label(k)), h('dd', {'data-key': k}, v)])));
}

// GET /v1/games/{game}/table: its summary (wins, losses, totals, averages,
// the breakdown) and its rows.
function renderTable(t, game) {
	const s = t.summary;
	const by = s.breakdown_by;
	const headline = {matches: s.matches, wins: s.wins, losses: s.losses};
	if (s.best_placement !== undefined) headline.best_placement = s.best_placement;
	const metrics = Object.keys(s.totals || {});
	const avgs = Object.keys(s.averages || {});
	return [
		h('div', {class: 'cards'},
			numbers('Summary', headline, 'summary-headline'),
			numbers('Totals', s.totals, 'summary-totals'),
			numbers('Averages', s.averages, 'summary-averages')),
		h('div', {class: 'table-wrap'}, h('table', {id: 'breakdown'},
			h('caption', {}, `By ${label(by)}`),
			h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, label(by)), h('th', {scope: 'col', class: 'num'}, 'Matches'),
				h('th', {scope: 'col', class: 'num'}, 'Wins'), h('th', {scope: 'col', class: 'num'}, 'Losses'),
				metrics.map((m) => h('th', {scope: 'col', class: 'num'}, `Total ${label(m)}`)),
				avgs.map((m) => h('th', {scope: 'col', class: 'num'}, `Average ${label(m)}`)))),
			h('tbody', {}, (s.breakdown || []).map((b) => h('tr', {},
				h('th', {scope: 'row'}, b[by]), h('td', {class: 'num'}, b.matches),
				h('td', {class: 'num'}, b.wins), h('td', {class: 'num'}, b.losses),
				metrics.map((m) => h('td', {class: 'num'}, b.totals[m])),
				avgs.map((m) => h('td', {class: 'num'}, b.averages[m]))))))),
		h('div', {class: 'table-wrap'}, h('table', {id: 'table-rows'},
			h('caption', {}, `All ${game.name} results`),
			h('thead', {}, h('tr', {}, game.fields.map((f) => h('th', {scope: 'col'}, label(f.name))))),
			h('tbody', {}, t.rows.map((r) => h('tr', {}, game.fields.map((f) => h('td', {}, cell(r[f.name]))))))))];
}
