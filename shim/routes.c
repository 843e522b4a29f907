/*
 * routes.c
 *		The one route table: method, path pattern, SQL statement, flags.
 *
 * Every route the shim serves is a row here; `pgbank-http --routes` prints
 * them and the tests compare that list with docs/openapi.json. The flags
 * say what the plumbing does for a route, so that no route is a special
 * case in code: ROUTE_AUTH (bearer token), ROUTE_READ_ONLY (a read-only
 * transaction: the routes that only read; GET /v1/verify_email writes),
 * ROUTE_NO_STORE (answers that carry tokens), ROUTE_HASHING (Argon2id:
 * sign-up, login, password change), ROUTE_SESSION (the answer sets the
 * browser's session cookies, cookies.c), ROUTE_PAGE (a browser navigating
 * to it is shown the web app's page for it, static.c), ROUTE_PRIMARY (a read that looks up
 * what the caller has just written, by the id or idempotency key a write
 * answered: it stays on the primary when PGBANK_DB_READ sends the other
 * reads to a standby, whose replay may lag). Statements
 * take the request's pieces as parameters only: no SQL text is ever built
 * from input. Path and query values are passed as text so the SQL function
 * names the field when one is malformed. The /v1 routes are the simple
 * bank's gRPC gateway, whose answers wrap the user in {"user": ...}.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "shim.h"

#define BODY		{PARAM_BODY, NULL}
#define TOKEN		{PARAM_TOKEN, NULL}
#define PATH(n)		{PARAM_PATH, n}
#define QUERY(n)	{PARAM_QUERY, n}
#define HEADER(n)	{PARAM_HEADER, n}
#define CLIENT_IP	{PARAM_CLIENT_IP, NULL}
#define COOKIE(n)	{PARAM_COOKIE, n}

const Route shim_routes[] = {
	/* the simple bank's HTTP API (gin) */
	{"POST", "/users", "create_user",
		"SELECT pgbank.api_create_user($1::json)",
	1, {BODY}, ROUTE_HASHING, NULL},
	{"POST", "/users/login", "login_user",
		"SELECT pgbank.api_login_user($1::json, $2, $3)",
	3, {BODY, HEADER("User-Agent"), CLIENT_IP}, ROUTE_HASHING | ROUTE_NO_STORE, NULL},
	{"POST", "/tokens/renew_access", "renew_access",
		"SELECT pgbank.api_renew_access($1::json)",
	1, {BODY}, ROUTE_NO_STORE, NULL},
	{"POST", "/accounts", "create_account",
		"SELECT pgbank.api_create_account($1, $2::json)",
	2, {TOKEN, BODY}, ROUTE_AUTH, NULL},
	{"GET", "/accounts/{id}", "get_account",
		"SELECT pgbank.api_get_account($1, $2)",
	2, {TOKEN, PATH("id")}, ROUTE_AUTH | ROUTE_READ_ONLY, NULL},
	{"GET", "/accounts", "list_accounts",
		"SELECT pgbank.api_list_accounts($1, $2, $3)",
	3, {TOKEN, QUERY("page_id"), QUERY("page_size")}, ROUTE_AUTH | ROUTE_READ_ONLY, NULL},
	{"POST", "/transfers", "transfer",
		"SELECT pgbank.api_transfer($1, $2::json, $3)",
	3, {TOKEN, BODY, HEADER("Idempotency-Key")}, ROUTE_AUTH, NULL},

	/* the ledger: double entry, statements, holds, batches (docs/ledger.md) */
	{"POST", "/deposits", "deposit",
		"SELECT pgbank.api_deposit($1, $2::json, $3)",
	3, {TOKEN, BODY, HEADER("Idempotency-Key")}, ROUTE_AUTH, NULL},
	{"POST", "/withdrawals", "withdraw",
		"SELECT pgbank.api_withdraw($1, $2::json, $3)",
	3, {TOKEN, BODY, HEADER("Idempotency-Key")}, ROUTE_AUTH, NULL},
	{"POST", "/transfers/batch", "transfer_batch",
		"SELECT pgbank.api_transfer_batch($1, $2::json)",
	2, {TOKEN, BODY}, ROUTE_AUTH, NULL},
	{"GET", "/transfers/{id}", "get_transfer",
		"SELECT pgbank.api_get_transfer($1, $2)",
	2, {TOKEN, PATH("id")}, ROUTE_AUTH | ROUTE_READ_ONLY | ROUTE_PRIMARY, NULL},
	{"GET", "/accounts/{id}/transfer_by_key", "transfer_by_key",
		"SELECT pgbank.api_transfer_by_key($1, $2, $3)",
	3, {TOKEN, PATH("id"), QUERY("idempotency_key")}, ROUTE_AUTH | ROUTE_READ_ONLY | ROUTE_PRIMARY, NULL},
	{"GET", "/accounts/{id}/entries", "account_entries",
		"SELECT pgbank.api_account_entries($1, $2, $3, $4)",
	4, {TOKEN, PATH("id"), QUERY("page_size"), QUERY("before_entry_id")}, ROUTE_AUTH | ROUTE_READ_ONLY, NULL},
	{"GET", "/accounts/{id}/transfers", "account_transfers",
		"SELECT pgbank.api_account_transfers($1, $2, $3, $4)",
	4, {TOKEN, PATH("id"), QUERY("page_size"), QUERY("before_transfer_id")}, ROUTE_AUTH | ROUTE_READ_ONLY, NULL},
	{"GET", "/accounts/{id}/balance", "balance_at",
		"SELECT pgbank.api_balance_at($1, $2, $3)",
	3, {TOKEN, PATH("id"), QUERY("at")}, ROUTE_AUTH | ROUTE_READ_ONLY, NULL},
	{"POST", "/holds", "hold",
		"SELECT pgbank.api_hold($1, $2::json)",
	2, {TOKEN, BODY}, ROUTE_AUTH, NULL},
	{"GET", "/holds/{id}", "get_hold",
		"SELECT pgbank.api_get_hold($1, $2)",
	2, {TOKEN, PATH("id")}, ROUTE_AUTH | ROUTE_READ_ONLY | ROUTE_PRIMARY, NULL},
	{"POST", "/holds/{id}/post", "post_hold",
		"SELECT pgbank.api_post_hold($1, $2, $3::json)",
	3, {TOKEN, PATH("id"), BODY}, ROUTE_AUTH, NULL},
	{"POST", "/holds/{id}/void", "void_hold",
		"SELECT pgbank.api_void_hold($1, $2)",
	2, {TOKEN, PATH("id")}, ROUTE_AUTH, NULL},

	/* the gRPC gateway's routes */
	{"POST", "/v1/create_user", "v1_create_user",
		"SELECT pg_catalog.json_build_object('user', pgbank.api_create_user($1::json))",
	1, {BODY}, ROUTE_HASHING, NULL},
	{"POST", "/v1/login_user", "v1_login_user",
		"SELECT pgbank.api_login_user($1::json, $2, $3)",
	3, {BODY, HEADER("User-Agent"), CLIENT_IP}, ROUTE_HASHING | ROUTE_NO_STORE, NULL},
	{"PATCH", "/v1/update_user", "v1_update_user",
		"SELECT pgbank.api_update_user($1, $2::json)",
	2, {TOKEN, BODY}, ROUTE_AUTH | ROUTE_HASHING, NULL},
	{"GET", "/v1/verify_email", "v1_verify_email",
		"SELECT pgbank.api_verify_email($1, $2)",
	2, {QUERY("email_id"), QUERY("secret_code")}, ROUTE_PAGE, NULL},
	{"POST", "/v1/logout", "v1_logout",
		"SELECT pgbank.api_logout($1::json)",
	1, {BODY}, 0, NULL},

	/* the web app's session: cookies instead of tokens (docs/web.md) */
	{"POST", "/v1/session", "session_login",
		"SELECT * FROM pgbank.api_session_login($1::json, $2, $3)",
	3, {BODY, HEADER("User-Agent"), CLIENT_IP}, ROUTE_HASHING | ROUTE_NO_STORE | ROUTE_SESSION, NULL},
	{"GET", "/v1/session", "session",
		"SELECT * FROM pgbank.api_session($1, $2)",
	2, {COOKIE(ACCESS_COOKIE), COOKIE(REFRESH_COOKIE)}, ROUTE_NO_STORE | ROUTE_SESSION, NULL},
	{"DELETE", "/v1/session", "session_logout",
		"SELECT * FROM pgbank.api_session_logout($1)",
	1, {COOKIE(REFRESH_COOKIE)}, ROUTE_NO_STORE | ROUTE_SESSION, NULL},

	/* game results */
	{"GET", "/v1/games", "games",
		"SELECT pgbank.api_games()",
	0, {{0}}, ROUTE_READ_ONLY, NULL},
	{"POST", "/v1/games/{game}/results", "game_create",
		"SELECT pgbank.api_game_create($1, $2, $3::json)",
	3, {TOKEN, PATH("game"), BODY}, ROUTE_AUTH, NULL},
	{"GET", "/v1/games/{game}/results", "game_list",
		"SELECT pgbank.api_game_list($1, $2, $3, $4, $5, $6)",
		6, {TOKEN, PATH("game"), QUERY("page_id"), QUERY("page_size"),
	QUERY("from"), QUERY("to")}, ROUTE_AUTH | ROUTE_READ_ONLY, NULL},
	{"GET", "/v1/games/{game}/results/{id}", "game_get",
		"SELECT pgbank.api_game_get($1, $2, $3)",
	3, {TOKEN, PATH("game"), PATH("id")}, ROUTE_AUTH | ROUTE_READ_ONLY, NULL},
	{"PATCH", "/v1/games/{game}/results/{id}", "game_update",
		"SELECT pgbank.api_game_update($1, $2, $3, $4::json)",
	4, {TOKEN, PATH("game"), PATH("id"), BODY}, ROUTE_AUTH, NULL},
	{"DELETE", "/v1/games/{game}/results/{id}", "game_delete",
		"SELECT pgbank.api_game_delete($1, $2, $3)",
	3, {TOKEN, PATH("game"), PATH("id")}, ROUTE_AUTH, NULL},
	{"GET", "/v1/games/{game}/table", "game_table",
		"SELECT pgbank.api_game_table($1, $2)",
	2, {TOKEN, PATH("game")}, ROUTE_AUTH | ROUTE_READ_ONLY, NULL},

	/* the server's own */
	{"GET", "/healthz", NULL, NULL, 0, {{0}}, 0, handle_healthz},
	{"GET", "/readyz", NULL, NULL, 0, {{0}}, 0, handle_readyz},
	{"GET", "/metrics", NULL, NULL, 0, {{0}}, 0, handle_metrics},
	{"GET", "/openapi.json", NULL, NULL, 0, {{0}}, 0, handle_openapi},
};

const int	shim_nroutes = sizeof(shim_routes) / sizeof(shim_routes[0]);

/*
 * Routes whose concurrent requests the pool may run as one statement, one
 * transaction (pool.c, PGBANK_COALESCE_WORKERS): the route's parameters,
 * each an array of one element per request, in the same order; the answer
 * is rows of (item from 0, the item's json or NULL when it failed).
 */
static const struct
{
	const char *stmt_name;
	const char *sql;
}			coalesced_routes[] = {
	{"transfer",
	"SELECT item, answer FROM pgbank.api_transfer_each($1::text[], $2::json[], $3::text[])"},
};

/* The statement that runs many of r's requests at once, or NULL. */
const char *
route_coalesce_sql(const Route *r)
{
	size_t		i;

	for (i = 0; i < sizeof(coalesced_routes) / sizeof(coalesced_routes[0]); i++)
	{
		if (r->stmt_name != NULL && strcmp(r->stmt_name, coalesced_routes[i].stmt_name) == 0)
			return coalesced_routes[i].sql;
	}
	return NULL;
}

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

/*
 * The token of an Authorization header (HTTP) or metadata (gRPC): the part
 * after "Bearer " (any case). *bad when the value is not "Bearer <token>";
 * NULL either way when there is no token.
 */
const char *
bearer_token_of(const char *header, bool *bad)
{
	*bad = false;
	if (header == NULL)
		return NULL;
	if (strncasecmp(header, "Bearer ", 7) != 0 || header[7] == '\0' ||
		strchr(header + 7, ' '))
	{
		*bad = true;
		return NULL;
	}
	return header + 7;
}

/* Whether a comma-separated list already names a header (any case). */
static bool
header_listed(const char *list, const char *name)
{
	size_t		n = strlen(name);
	const char *p = list;

	while (*p)
	{
		if (strncasecmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
		p = strchr(p, ',');
		if (p == NULL)
			break;
		p += strspn(p, ", ");
	}
	return false;
}

/*
 * The request headers the routes of a path read, for a CORS preflight's
 * Access-Control-Allow-Headers: Authorization where a route takes the
 * token, Content-Type where it takes a body, and each header it names.
 */
void
route_cors_headers(const char *path, char *out, size_t size)
{
	int			i,
				j;
	Capture		scratch[ROUTE_MAX_CAPTURES];
	int			nscratch;

	snprintf(out, size, "X-Request-Id");
	for (i = 0; i < shim_nroutes; i++)
	{
		const Route *r = &shim_routes[i];

		if (!pattern_match(r->pattern, path, scratch, &nscratch))
			continue;
		for (j = 0; j < r->nparams; j++)
		{
			const char *h = r->params[j].source == PARAM_TOKEN ? "Authorization" :
				r->params[j].source == PARAM_BODY ? "Content-Type" :
				r->params[j].source == PARAM_HEADER ? r->params[j].name : NULL;

			if (h != NULL && !header_listed(out, h))
				snprintf(out + strlen(out), size - strlen(out), ", %s", h);
		}
	}
}

/* The flags but ROUTE_AUTH, as --routes prints them: "read-only,no-store". */
static void
flag_names(unsigned int flags, char *out, size_t size)
{
	static const struct
	{
		unsigned int flag;
		const char *name;
	}			names[] = {
		{ROUTE_READ_ONLY, "read-only"},
		{ROUTE_NO_STORE, "no-store"},
		{ROUTE_HASHING, "hashing"},
		{ROUTE_SESSION, "session"},
		{ROUTE_PAGE, "page"},
		{ROUTE_PRIMARY, "primary"},
	};
	size_t		i;

	out[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
	{
		if (flags & names[i].flag)
			snprintf(out + strlen(out), size - strlen(out), "%s%s",
					 out[0] ? "," : "", names[i].name);
	}
	if (out[0] == '\0')
		snprintf(out, size, "-");
}

/* The table as `pgbank-http --routes` prints it: method, path, auth, flags, SQL. */
void
routes_print(void)
{
	int			i;
	char		flags[64];

	for (i = 0; i < shim_nroutes; i++)
	{
		const Route *r = &shim_routes[i];

		flag_names(r->flags, flags, sizeof(flags));
		printf("%s\t%s\t%s\t%s\t%s\n", r->method, r->pattern,
			   (r->flags & ROUTE_AUTH) ? "bearer" : "none", flags,
			   r->sql ? r->sql : "(built in)");
	}
}
