// Accounts: balances, opening an account, and transfers (the API's errors,
// such as insufficient funds or a currency mismatch, shown on the form).
import {api, query} from './api.js';
import {h, field, showError, clearErrors, announce} from './dom.js';

const money = (minor) => (minor / 100).toFixed(2);

export async function accountsView() {
	const body = h('tbody');
	const fromSelect = h('select', {name: 'from_account_id', required: true});
	const currencyInput = h('input', {name: 'currency', type: 'text', required: true, pattern: '[A-Z]{3}',
		maxlength: 3, autocapitalize: 'characters', list: 'currencies'});

	async function refresh() {
		const accounts = await api('GET', '/accounts' + query({page_id: 1, page_size: 10}));
		body.replaceChildren(...accounts.map((a) => h('tr', {'data-id': a.id},
			h('td', {class: 'num'}, a.id), h('td', {}, a.currency),
			h('td', {class: 'num', 'data-key': 'balance'}, money(a.balance)),
			h('td', {class: 'num', 'data-key': 'available'}, money(a.available)))));
		if (accounts.length === 0) body.replaceChildren(h('tr', {}, h('td', {colspan: 4}, 'No account yet.')));
		const chosen = fromSelect.value;
		fromSelect.replaceChildren(...accounts.map((a) => h('option', {value: a.id, 'data-currency': a.currency},
			`${a.id} (${a.currency}, ${money(a.available)} available)`)));
		if (chosen) fromSelect.value = chosen;
		if (!currencyInput.value && accounts.length) currencyInput.value = accounts[0].currency;
	}

	const open = h('form', {class: 'inline', novalidate: true, id: 'open-account', 'aria-labelledby': 'open-title'},
		h('p', {class: 'form-error', role: 'alert'}),
		field('Currency', h('input', {name: 'currency', type: 'text', required: true, maxlength: 3,
			autocapitalize: 'characters', list: 'currencies'}), 'USD, EUR or CAD'),
		h('button', {type: 'submit'}, 'Open account'));
	open.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearErrors(open);
		try {
			const a = await api('POST', '/accounts', {currency: open.elements.currency.value.trim().toUpperCase()});
			announce(`Account ${a.id} opened.`);
			open.reset();
			await refresh();
		} catch (e) {
			showError(open, e);
		}
	});

	const result = h('p', {class: 'notice', role: 'status', id: 'transfer-result'});
	const transfer = h('form', {novalidate: true, id: 'transfer', 'aria-labelledby': 'transfer-title'},
		h('p', {class: 'form-error', role: 'alert'}),
		field('From account', fromSelect),
		field('To account id', h('input', {name: 'to_account_id', type: 'number', min: 1, step: 1, required: true})),
		field('Amount (in cents)', h('input', {name: 'amount', type: 'number', min: 1, step: 1, required: true})),
		field('Currency', currencyInput),
		h('button', {type: 'submit'}, 'Transfer'));
	fromSelect.addEventListener('change', () => {
		const o = fromSelect.selectedOptions[0];
		if (o) currencyInput.value = o.dataset.currency;
	});
	transfer.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearErrors(transfer);
		result.textContent = '';
		const e = transfer.elements;
		try {
			const t = await api('POST', '/transfers', {
				from_account_id: Number(e.from_account_id.value), to_account_id: Number(e.to_account_id.value),
				amount: Number(e.amount.value), currency: e.currency.value.trim().toUpperCase()});
			result.textContent = `Transfer ${t.transfer.id} done: ${money(t.transfer.amount)} ${t.transfer.currency} ` +
				`from ${t.transfer.from_account_id} to ${t.transfer.to_account_id}.`;
			await refresh();
		} catch (err) {
			showError(transfer, err);
		}
	});

	await refresh();
	return [h('h1', {}, 'Accounts'),
		h('datalist', {id: 'currencies'}, ['USD', 'EUR', 'CAD'].map((c) => h('option', {value: c}))),
		h('div', {class: 'table-wrap'}, h('table', {id: 'accounts'},
			h('caption', {}, 'Your accounts (amounts in units of the currency)'),
			h('thead', {}, h('tr', {}, h('th', {scope: 'col', class: 'num'}, 'Id'), h('th', {scope: 'col'}, 'Currency'),
				h('th', {scope: 'col', class: 'num'}, 'Balance'), h('th', {scope: 'col', class: 'num'}, 'Available'))),
			body)),
		h('section', {class: 'panel'}, h('h2', {id: 'open-title'}, 'Open an account'), open),
		h('section', {class: 'panel'}, h('h2', {id: 'transfer-title'}, 'Transfer money'), result, transfer)];
}
