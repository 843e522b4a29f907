// The web app's router: #/path views, the navigation, the session.
import {api, currentUser} from './api.js';
import {h, announce} from './dom.js';
import {signUpView, signInView} from './auth.js';
import {gamesView, gameView} from './games.js';
import {accountsView} from './accounts.js';

export const session = {user: null, notice: ''};

function homeView() {
	if (!session.user) {
		return [h('h1', {}, 'pgbank'),
			h('p', {}, 'Keep your game results and your accounts in one place.'),
			h('p', {}, h('a', {href: '#/signin'}, 'Sign in'), ' or ', h('a', {href: '#/signup'}, 'create an account'), '.')];
	}
	return [h('h1', {}, `Welcome, ${session.user.full_name}`),
		h('ul', {},
			h('li', {}, h('a', {href: '#/games'}, 'Game results')),
			h('li', {}, h('a', {href: '#/accounts'}, 'Accounts')))];
}

// Show a view: by changing the hash (hashchange renders), or again.
export function go(hash) {
	if (location.hash === hash) render();
	else location.hash = hash;
}

async function signOut() {
	try {
		await api('DELETE', '/v1/session');
	} finally {
		session.user = null;
		session.notice = 'You are signed out.';
		go('#/signin');
	}
}

function renderNav() {
	const nav = document.getElementById('nav');
	const link = (href, text) => h('li', {}, h('a', {href, 'aria-current': location.hash === href ? 'page' : null}, text));
	nav.replaceChildren(...(session.user ? [
		link('#/games', 'Games'),
		link('#/accounts', 'Accounts'),
		h('li', {}, h('span', {id: 'whoami'}, session.user.username)),
		h('li', {}, h('button', {type: 'button', id: 'signout', onclick: signOut}, 'Sign out')),
	] : [
		link('#/signin', 'Sign in'),
		link('#/signup', 'Sign up'),
	]));
}

const views = {
	'': homeView,
	signin: signInView,
	signup: signUpView,
	games: (rest) => (rest ? gameView(rest) : gamesView()),
	accounts: accountsView,
};
const needsUser = new Set(['games', 'accounts']);

let renders = 0;

export async function render() {
	const seq = ++renders;
	const [, name = '', rest = ''] = /^#\/([a-z]*)\/?(.*)$/.exec(location.hash) || [];
	const main = document.getElementById('main');
	renderNav();
	if (needsUser.has(name) && !session.user) {
		session.notice = session.notice || 'Please sign in.';
		go('#/signin');
		return;
	}
	const view = views[name] || (() => [h('h1', {}, 'Not found'), h('p', {}, h('a', {href: '#/'}, 'Home'))]);
	const notice = session.notice;
	session.notice = '';
	try {
		const content = await view(decodeURIComponent(rest));
		if (seq !== renders) return;	// a later navigation won
		main.replaceChildren(...(notice ? [h('p', {class: 'notice', role: 'status'}, notice)] : []), ...[content].flat());
	} catch (e) {
		if (seq !== renders) return;
		main.replaceChildren(h('h1', {}, 'Something went wrong'), h('p', {class: 'form-error'}, e.message));
	}
	const title = main.querySelector('h1');
	document.title = title ? `${title.textContent} · pgbank` : 'pgbank';
	announce(document.title);
	main.focus();
}

window.addEventListener('hashchange', render);
session.user = await currentUser();
render();
