// Swagger UI (swagger-ui-dist, fetched by scripts/swagger-ui.sh) on this
// server's /openapi.json. Try it out calls this same server: the
// document's servers are replaced by the page's origin. Authorize takes an
// access token (POST /users/login) for the bearer routes.
window.addEventListener('load', async () => {
	const resp = await fetch('/openapi.json', {headers: {Accept: 'application/json'}});
	const spec = await resp.json();
	spec.servers = [{url: window.location.origin, description: 'this server'}];
	window.ui = SwaggerUIBundle({
		spec,
		dom_id: '#swagger-ui',
		deepLinking: true,
		persistAuthorization: false,
		tryItOutEnabled: false,
		presets: [SwaggerUIBundle.presets.apis],
		layout: 'BaseLayout',
	});
});
