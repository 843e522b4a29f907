// The landing page of the verification email's link, /v1/verify_email?
// email_id=..&secret_code=..: the shim serves this page to a browser that
// navigates there, and the page asks the same route for its JSON answer.
import {api} from './api.js';

const out = document.getElementById('verify-result');
try {
	const r = await api('GET', '/v1/verify_email' + location.search);
	out.textContent = r.is_verified ? 'Your email is verified. You can sign in now.' : 'Your email is not verified.';
	out.className = 'notice';
} catch (e) {
	out.textContent = `This link does not verify your email: ${e.message}.`;
	out.className = 'form-error';
}
