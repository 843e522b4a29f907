// Sign up and sign in.
import {api} from './api.js';
import {h, field, showError, clearErrors} from './dom.js';
import {session, go} from './app.js';

function input(name, type, attrs = {}) {
	return h('input', {name, type, required: true, ...attrs});
}

function values(form) {
	return Object.fromEntries(new FormData(form).entries());
}

export function signUpView() {
	const form = h('form', {novalidate: true, 'aria-labelledby': 'signup-title'},
		h('p', {class: 'form-error', role: 'alert'}),
		field('Username', input('username', 'text', {autocomplete: 'username'}), '3 to 100 letters, digits or underscores'),
		field('Full name', input('full_name', 'text', {autocomplete: 'name'})),
		field('Email', input('email', 'email', {autocomplete: 'email'})),
		field('Password', input('password', 'password', {autocomplete: 'new-password'}), 'at least 6 characters'),
		h('button', {type: 'submit'}, 'Sign up'));
	const done = h('div', {role: 'status'});
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearErrors(form);
		try {
			const user = await api('POST', '/users', values(form));
			form.reset();
			done.replaceChildren(h('p', {class: 'notice'},
				`Welcome, ${user.full_name}. We sent a link to ${user.email}: open it to verify your email, then `,
				h('a', {href: '#/signin'}, 'sign in'), '.'));
		} catch (e) {
			showError(form, e);
		}
	});
	return [h('h1', {id: 'signup-title'}, 'Sign up'), done, form];
}

export function signInView() {
	const form = h('form', {novalidate: true, 'aria-labelledby': 'signin-title'},
		h('p', {class: 'form-error', role: 'alert'}),
		field('Username', input('username', 'text', {autocomplete: 'username'})),
		field('Password', input('password', 'password', {autocomplete: 'current-password'})),
		h('button', {type: 'submit'}, 'Sign in'));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearErrors(form);
		try {
			const s = await api('POST', '/v1/session', values(form));
			session.user = s.user;
			session.notice = `Signed in as ${s.user.username}.`;
			go('#/games');
		} catch (e) {
			showError(form, e);
		}
	});
	return [h('h1', {id: 'signin-title'}, 'Sign in'), form,
		h('p', {}, 'No account yet? ', h('a', {href: '#/signup'}, 'Sign up'), '.')];
}
