/*
 * cors.c
 *		Cross-origin requests from the origins of PGBANK_ALLOWED_ORIGINS.
 *
 * A request whose Origin is one of the allowed ones (compared exactly, as
 * browsers send it: scheme://host[:port]) gets Access-Control-Allow-Origin
 * with that origin, credentials allowed, and Vary: Origin. A preflight
 * (OPTIONS with Access-Control-Request-Method) from such an origin is
 * answered from the route table: the methods the path is served with and
 * the headers its routes read (route_cors_headers). Any other origin gets
 * none of these headers, so its scripts can neither send the request nor
 * read the answer. The list is the simple bank's ALLOWED_ORIGINS.
 */
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "shim.h"

#define PREFLIGHT_MAX_AGE "600"

/* Whether an origin is one of PGBANK_ALLOWED_ORIGINS (comma-separated). */
bool
cors_origin_allowed(const char *origin)
{
	const char *p = shim_config.allowed_origins;
	size_t		n = strlen(origin);

	if (p == NULL || n == 0)
		return false;
	while (*p)
	{
		size_t		len;

		p += strspn(p, " ,");
		len = strcspn(p, ",");
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (len == n && strncmp(p, origin, n) == 0)
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* The allowed origin of a request, or NULL. */
static const char *
allowed_origin(struct MHD_Connection *conn)
{
	const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");

	return origin && cors_origin_allowed(origin) ? origin : NULL;
}

/* The headers of any answer to an allowed origin. */
void
cors_headers(struct MHD_Connection *conn, struct MHD_Response *resp)
{
	const char *origin = allowed_origin(conn);

	MHD_add_response_header(resp, "Vary", "Origin");
	if (origin == NULL)
		return;
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
	MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
	MHD_add_response_header(resp, "Access-Control-Expose-Headers",
							"X-Request-Id, Retry-After");
}

/*
 * A preflight of a served path (allow: its methods): the answer's headers
 * if its origin is allowed and it asks for one of the methods; false
 * otherwise (the caller answers without them).
 */
bool
cors_preflight(struct MHD_Connection *conn, const char *path, const char *allow,
			   struct MHD_Response *resp)
{
	const char *method = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
													 "Access-Control-Request-Method");
	char		headers[1024];
	char		padded[80];
	char		list[80];

	if (allowed_origin(conn) == NULL || method == NULL || strlen(method) > 32)
		return false;
	snprintf(padded, sizeof(padded), ", %s,", method);
	snprintf(list, sizeof(list), ", %s,", allow);
	if (strstr(list, padded) == NULL)
		return false;
	route_cors_headers(path, headers, sizeof(headers));
	MHD_add_response_header(resp, "Access-Control-Allow-Methods", allow);
	MHD_add_response_header(resp, "Access-Control-Allow-Headers", headers);
	MHD_add_response_header(resp, "Access-Control-Max-Age", PREFLIGHT_MAX_AGE);
	return true;
}
