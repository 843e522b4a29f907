// Building the page from elements and text nodes: every text the API returns
// is set as text, never parsed as HTML.

// h('p', {class: 'x'}, 'text', child...): an element; attributes whose
// value is null, undefined or false are left out, on* become listeners.
export function h(tag, attrs = {}, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false) continue;
		if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
		else if (k === 'value') el.value = v;
		else el.setAttribute(k, v === true ? '' : String(v));
	}
	for (const c of children.flat(Infinity)) {
		if (c === null || c === undefined || c === false) continue;
		el.append(c instanceof Node ? c : String(c));
	}
	return el;
}

let fieldIds = 0;

// A labelled input with its hint and the place for its error
// (aria-describedby ties them to the input for screen readers).
export function field(labelText, input, hint) {
	const id = input.id || `f${++fieldIds}`;
	input.id = id;
	const errorId = `${id}-error`;
	const hintId = hint ? `${id}-hint` : null;
	input.setAttribute('aria-describedby', [hintId, errorId].filter(Boolean).join(' '));
	return h('div', {class: 'field', 'data-field': input.name},
		h('label', {for: id}, labelText),
		hint ? h('span', {class: 'hint', id: hintId}, hint) : null,
		input,
		h('span', {class: 'field-error', id: errorId}));
}

// Show an API error on a form: beside the field it names, else on top.
export function showError(form, err) {
	clearErrors(form);
	const name = err.field;
	const box = name && form.querySelector(`[data-field="${CSS.escape(name)}"]`);
	if (box) {
		box.querySelector('.field-error').textContent = err.message;
		const input = box.querySelector('input, select');
		input.setAttribute('aria-invalid', 'true');
		input.focus();
	} else {
		form.querySelector('.form-error').textContent = err.message;
	}
}

export function clearErrors(form) {
	for (const e of form.querySelectorAll('.field-error, .form-error')) e.textContent = '';
	for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
}

export function announce(text) {
	document.getElementById('status').textContent = text;
}
