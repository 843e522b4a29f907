/*
 * cookies.c
 *		The browser's session: two cookies, and the cross-site check of what
 *		they authenticate.
 *
 * The web app signs in with POST /v1/session; the answer of each
 * ROUTE_SESSION route (its SQL function decides the tokens and how long
 * each lasts, docs/web.md) sets the access-token cookie, sent with every
 * request, and the refresh-token cookie, sent only to /v1/session, where
 * GET renews the access token and DELETE signs out. Both are HttpOnly (no
 * script reads them), SameSite=Strict (no other site's page sends them) and
 * Secure under PGBANK_COOKIE_SECURE (the shim speaks plain HTTP; a TLS
 * proxy in front sets it).
 *
 * A route that takes the bearer token takes the access cookie instead when
 * there is no Authorization header. A request so authenticated, or one
 * that reads or sets the session cookies, that may write (any method but
 * GET, HEAD, OPTIONS) must come from a page of this server or of an origin
 * of PGBANK_ALLOWED_ORIGINS: its Origin header says so, and a request
 * without one is refused (browsers send it with every such request).
 * SameSite already keeps other sites' requests from carrying the cookies;
 * the Origin check also stops a sibling site (another port of the same
 * host is the same site) from posting a form to the API.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "shim.h"

/* The access token of the session cookie, or NULL. */
const char *
cookie_token(struct MHD_Connection *conn)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, ACCESS_COOKIE);

	return v && v[0] ? v : NULL;
}

/*
 * Whether an Origin names this server: its host and port (after the
 * scheme) are the request's Host. The scheme is not compared, as a TLS
 * proxy in front makes the browser's https the shim's http.
 */
static bool
same_origin(struct MHD_Connection *conn, const char *origin)
{
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	const char *authority = strstr(origin, "://");

	if (host == NULL || authority == NULL)
		return false;
	return strcasecmp(authority + 3, host) == 0;
}

/*
 * A write that cookies authenticate must come from this server's pages or
 * an allowed origin's.
 */
bool
cookie_origin_ok(struct MHD_Connection *conn)
{
	const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");

	if (origin == NULL || strcmp(origin, "null") == 0)
		return false;
	return same_origin(conn, origin) || cors_origin_allowed(origin);
}

/* One Set-Cookie: a token for max_age seconds; "" clears the cookie. */
static void
set_cookie(struct MHD_Response *resp, const char *name, const char *value,
		   const char *max_age, const char *path)
{
	char		header[4096];
	int			n;

	n = snprintf(header, sizeof(header),
				 "%s=%s; Path=%s; Max-Age=%s; HttpOnly; SameSite=Strict%s",
				 name, value, path, value[0] && max_age[0] ? max_age : "0",
				 shim_config.cookie_secure ? "; Secure" : "");
	if (n > 0 && (size_t) n < sizeof(header))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, header);
}

/*
 * The cookies of a ROUTE_SESSION answer: columns 1 and 2 are the access
 * token and its max age, 3 and 4 the refresh token and its; a NULL token
 * leaves its cookie as it is.
 */
void
cookies_set(struct MHD_Response *resp, const PGresult *res)
{
	if (PQnfields(res) != 5 || PQntuples(res) != 1)
		return;
	if (!PQgetisnull(res, 0, 1))
		set_cookie(resp, ACCESS_COOKIE, PQgetvalue(res, 0, 1),
				   PQgetvalue(res, 0, 2), "/");
	if (!PQgetisnull(res, 0, 3))
		set_cookie(resp, REFRESH_COOKIE, PQgetvalue(res, 0, 3),
				   PQgetvalue(res, 0, 4), REFRESH_COOKIE_PATH);
}
