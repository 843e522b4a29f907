/*
 * routes.c
 *		The one route table: method, path pattern, SQL statement, auth.
 *
 * Every route the shim serves is a row here; `pgbank-http --routes` prints
 * them and the tests compare that list with docs/openapi.json. Statements
 * take the request's pieces as parameters only: no SQL text is ever built
 * from input. Path and query values are passed as text so the SQL function
 * names the field when one is malformed. The /v1 routes are the simple
 * bank's gRPC gateway, whose answers wrap the user in {"user": ...}.
 */
#include <stdio.h>
#include <string.h>

#include "shim.h"

#define BODY		{PARAM_BODY, NULL}
#define TOKEN		{PARAM_TOKEN, NULL}
#define PATH(n)		{PARAM_PATH, n}
#define QUERY(n)	{PARAM_QUERY, n}
#define HEADER(n)	{PARAM_HEADER, n}
#define CLIENT_IP	{PARAM_CLIENT_IP, NULL}

const Route shim_routes[] = {
	/* the simple bank's HTTP API (gin) */
	{"POST", "/users", "create_user",
		"SELECT pgbank.api_create_user($1::json)",
	1, {BODY}, false, NULL},
	{"POST", "/users/login", "login_user",
		"SELECT pgbank.api_login_user($1::json, $2, $3)",
	3, {BODY, HEADER("User-Agent"), CLIENT_IP}, false, NULL},
	{"POST", "/tokens/renew_access", "renew_access",
		"SELECT pgbank.api_renew_access($1::json)",
	1, {BODY}, false, NULL},
	{"POST", "/accounts", "create_account",
		"SELECT pgbank.api_create_account($1, $2::json)",
	2, {TOKEN, BODY}, true, NULL},
	{"GET", "/accounts/{id}", "get_account",
		"SELECT pgbank.api_get_account($1, $2)",
	2, {TOKEN, PATH("id")}, true, NULL},
	{"GET", "/accounts", "list_accounts",
		"SELECT pgbank.api_list_accounts($1, $2, $3)",
	3, {TOKEN, QUERY("page_id"), QUERY("page_size")}, true, NULL},
	{"POST", "/transfers", "transfer",
		"SELECT pgbank.api_transfer($1, $2::json, $3)",
	3, {TOKEN, BODY, HEADER("Idempotency-Key")}, true, NULL},

	/* the gRPC gateway's routes */
	{"POST", "/v1/create_user", "v1_create_user",
		"SELECT pg_catalog.json_build_object('user', pgbank.api_create_user($1::json))",
	1, {BODY}, false, NULL},
	{"POST", "/v1/login_user", "v1_login_user",
		"SELECT pgbank.api_login_user($1::json, $2, $3)",
	3, {BODY, HEADER("User-Agent"), CLIENT_IP}, false, NULL},
	{"PATCH", "/v1/update_user", "v1_update_user",
		"SELECT pgbank.api_update_user($1, $2::json)",
	2, {TOKEN, BODY}, true, NULL},
	{"GET", "/v1/verify_email", "v1_verify_email",
		"SELECT pgbank.api_verify_email($1, $2)",
	2, {QUERY("email_id"), QUERY("secret_code")}, false, NULL},
	{"POST", "/v1/logout", "v1_logout",
		"SELECT pgbank.api_logout($1::json)",
	1, {BODY}, false, NULL},

	/* game results */
	{"POST", "/v1/games/{game}/results", "game_create",
		"SELECT pgbank.api_game_create($1, $2, $3::json)",
	3, {TOKEN, PATH("game"), BODY}, true, NULL},
	{"GET", "/v1/games/{game}/results", "game_list",
		"SELECT pgbank.api_game_list($1, $2, $3, $4, $5, $6)",
		6, {TOKEN, PATH("game"), QUERY("page_id"), QUERY("page_size"),
	QUERY("from"), QUERY("to")}, true, NULL},
	{"GET", "/v1/games/{game}/results/{id}", "game_get",
		"SELECT pgbank.api_game_get($1, $2, $3)",
	3, {TOKEN, PATH("game"), PATH("id")}, true, NULL},
	{"PATCH", "/v1/games/{game}/results/{id}", "game_update",
		"SELECT pgbank.api_game_update($1, $2, $3, $4::json)",
	4, {TOKEN, PATH("game"), PATH("id"), BODY}, true, NULL},
	{"DELETE", "/v1/games/{game}/results/{id}", "game_delete",
		"SELECT pgbank.api_game_delete($1, $2, $3)",
	3, {TOKEN, PATH("game"), PATH("id")}, true, NULL},
	{"GET", "/v1/games/{game}/table", "game_table",
		"SELECT pgbank.api_game_table($1, $2)",
	2, {TOKEN, PATH("game")}, true, NULL},

	/* the server's own */
	{"GET", "/healthz", NULL, NULL, 0, {{0}}, false, handle_healthz},
	{"GET", "/readyz", NULL, NULL, 0, {{0}}, false, handle_readyz},
	{"GET", "/metrics", NULL, NULL, 0, {{0}}, false, handle_metrics},
	{"GET", "/openapi.json", NULL, NULL, 0, {{0}}, false, handle_openapi},
};

const int	shim_nroutes = sizeof(shim_routes) / sizeof(shim_routes[0]);

/*
 * Match one path against one pattern, segment by segment; {name} segments
 * capture a non-empty value of bounded length.
 */
static bool
pattern_match(const char *pattern, const char *path, Capture *captures,
			  int *ncaptures)
{
	const char *p = pattern;
	const char *u = path;

	*ncaptures = 0;
	while (*p && *u)
	{
		if (*p == '{')
		{
			const char *close = strchr(p, '}');
			const char *end = strchr(u, '/');
			size_t		vlen = end ? (size_t) (end - u) : strlen(u);
			Capture    *c;

			if (close == NULL || vlen == 0 || *ncaptures >= ROUTE_MAX_CAPTURES ||
				vlen >= sizeof(captures[0].value))
				return false;
			c = &captures[(*ncaptures)++];
			c->name = p + 1;
			c->name_len = (size_t) (close - p - 1);
			memcpy(c->value, u, vlen);
			c->value[vlen] = '\0';
			p = close + 1;
			u += vlen;
		}
		else if (*p == *u)
		{
			p++;
			u++;
		}
		else
			return false;
	}
	return *p == '\0' && *u == '\0';
}

/*
 * Find the route for a request. When the path exists under other methods
 * only, answer ROUTE_BAD_METHOD and list them in allow (for the Allow
 * header of a 405).
 */
RouteMatch
route_match(const char *method, const char *path, int *route_index,
			Capture *captures, int *ncaptures, char *allow, size_t allow_size)
{
	int			i;
	bool		path_found = false;
	Capture		scratch[ROUTE_MAX_CAPTURES];
	int			nscratch;

	allow[0] = '\0';
	for (i = 0; i < shim_nroutes; i++)
	{
		const Route *r = &shim_routes[i];

		if (!pattern_match(r->pattern, path, scratch, &nscratch))
			continue;
		if (strcmp(r->method, method) == 0)
		{
			memcpy(captures, scratch, sizeof(scratch));
			*ncaptures = nscratch;
			*route_index = i;
			return ROUTE_FOUND;
		}
		path_found = true;
		if (strlen(allow) + strlen(r->method) + 3 < allow_size)
		{
			if (allow[0])
				strcat(allow, ", ");
			strcat(allow, r->method);
		}
	}
	return path_found ? ROUTE_BAD_METHOD : ROUTE_NOT_FOUND;
}

/* The table as `pgbank-http --routes` prints it: method, path, auth, SQL. */
void
routes_print(void)
{
	int			i;

	for (i = 0; i < shim_nroutes; i++)
	{
		const Route *r = &shim_routes[i];

		printf("%s\t%s\t%s\t%s\n", r->method, r->pattern,
			   r->auth ? "bearer" : "none",
			   r->sql ? r->sql : "(built in)");
	}
}
