/*
 * token.c
 *		The token Maker: access and refresh tokens behind one interface, as
 *		the Go simple bank's token.Maker, in PASETO v4.local (default) or JWT
 *		HS256, chosen by pgbank.token_format and keyed by pgbank.token_key.
 *
 * The payload is simple bank's Payload:
 *   {"id": uuid, "username": ..., "role": first role, "roles": [...],
 *    "issued_at": RFC 3339, "expired_at": RFC 3339}
 * and a JWT also carries the registered claims sub, jti, iat and exp.
 *
 * pgbank.token_key is a secret: superuser only, hidden from SHOW ALL, and
 * its check hook reports a bad value without repeating it.
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "pgbank.h"
#include "tokens.h"

PG_FUNCTION_INFO_V1(pgbank_token_issue);
PG_FUNCTION_INFO_V1(pgbank_token_verify);

typedef enum TokenFormat
{
	TOKEN_FORMAT_PASETO,
	TOKEN_FORMAT_JWT
} TokenFormat;

static const struct config_enum_entry token_format_options[] = {
	{"paseto", TOKEN_FORMAT_PASETO, false},
	{"jwt", TOKEN_FORMAT_JWT, false},
	{NULL, 0, false}
};

static int	token_format = TOKEN_FORMAT_PASETO;
static char *token_key = NULL;

/* The claims a token carries, as read back from its payload. */
typedef struct TokenClaims
{
	int			depth;
	const char *current;
	bool		top_is_object;
	int			id_count;
	char	   *id;
	int			username_count;
	char	   *username;
	int			roles_count;
	bool		in_roles;		/* inside the roles array */
	bool		roles_ok;		/* an array of strings */
	List	   *roles;
	int			issued_count;
	char	   *issued_at;
	int			expired_count;
	char	   *expired_at;
} TokenClaims;

static bool
token_key_check(char **newval, void **extra, GucSource source)
{
	size_t		len = *newval ? strlen(*newval) : 0;
	size_t		i;

	if (len == 0)
		return true;			/* unset: issuing and verifying refuse */
	if (len != 2 * PGBANK_TOKEN_KEY_BYTES)
	{
		/* a message of our own, so that PostgreSQL does not echo the value */
		GUC_check_errmsg("pgbank.token_key must be %d hexadecimal characters",
						 2 * PGBANK_TOKEN_KEY_BYTES);
		return false;
	}
	for (i = 0; i < len; i++)
	{
		if (!isxdigit((unsigned char) (*newval)[i]))
		{
			GUC_check_errmsg("pgbank.token_key must be %d hexadecimal characters",
							 2 * PGBANK_TOKEN_KEY_BYTES);
			return false;
		}
	}
	return true;
}

void
pgbank_token_init(void)
{
	DefineCustomEnumVariable("pgbank.token_format",
							 "Format of access and refresh tokens: paseto (v4.local) or jwt (HS256).",
							 NULL,
							 &token_format,
							 TOKEN_FORMAT_PASETO,
							 token_format_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("pgbank.token_key",
							   "Secret key of access and refresh tokens (64 hexadecimal characters).",
							   NULL,
							   &token_key,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   token_key_check, NULL, NULL);
}

/*
 * The configured key in raw bytes; false when none is set. The caller
 * wipes key.
 */
static bool
configured_key(unsigned char *key)
{
	size_t		n = 0;

	if (token_key == NULL || strlen(token_key) != 2 * PGBANK_TOKEN_KEY_BYTES)
		return false;
	if (sodium_hex2bin(key, PGBANK_TOKEN_KEY_BYTES, token_key, strlen(token_key),
					   NULL, &n, NULL) != 0 || n != PGBANK_TOKEN_KEY_BYTES)
	{
		sodium_memzero(key, PGBANK_TOKEN_KEY_BYTES);
		return false;
	}
	return true;
}

/* RFC 3339 in UTC with microseconds, as Go's time.RFC3339Nano reads it. */
static void
append_rfc3339(StringInfo buf, TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0 ||
		tm.tm_year < 1 || tm.tm_year > 9999)
		pgbank_invalid_input("duration", "the expiry time is out of range");
	appendStringInfo(buf, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"",
					 tm.tm_year, tm.tm_mon, tm.tm_mday,
					 tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

/* Read n digits; -1 if any is not a digit. */
static int
read_digits(const char *s, int n)
{
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * Parse RFC 3339: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM).
 */
static bool
parse_rfc3339(const char *s, TimestampTz *ts)
{
	struct pg_tm tm;
	fsec_t		fsec = 0;
	int			tz = 0;
	size_t		len = strlen(s);
	size_t		p = 19;
	int			y,
				mo,
				d;

	memset(&tm, 0, sizeof(tm));
	if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
		s[13] != ':' || s[16] != ':')
		return false;
	tm.tm_year = read_digits(s, 4);
	tm.tm_mon = read_digits(s + 5, 2);
	tm.tm_mday = read_digits(s + 8, 2);
	tm.tm_hour = read_digits(s + 11, 2);
	tm.tm_min = read_digits(s + 14, 2);
	tm.tm_sec = read_digits(s + 17, 2);
	if (tm.tm_year < 1 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
		tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 ||
		tm.tm_sec < 0 || tm.tm_sec > 59)
		return false;
	j2date(date2j(tm.tm_year, tm.tm_mon, tm.tm_mday), &y, &mo, &d);
	if (y != tm.tm_year || mo != tm.tm_mon || d != tm.tm_mday)
		return false;
	if (s[p] == '.')
	{
		int			scale = 100000;

		p++;
		if (p >= len || s[p] < '0' || s[p] > '9')
			return false;
		while (p < len && s[p] >= '0' && s[p] <= '9')
		{
			fsec += (s[p] - '0') * scale;
			scale /= 10;
			p++;
		}
	}
	if (p == len - 1 && (s[p] == 'Z' || s[p] == 'z'))
		tz = 0;
	else if (p == len - 6 && (s[p] == '+' || s[p] == '-') && s[p + 3] == ':')
	{
		int			h = read_digits(s + p + 1, 2);
		int			m = read_digits(s + p + 4, 2);

		if (h < 0 || h > 23 || m < 0 || m > 59)
			return false;
		/* PostgreSQL counts zones in seconds west of UTC */
		tz = (s[p] == '+' ? -1 : 1) * (h * 3600 + m * 60);
	}
	else
		return false;
	return tm2timestamp(&tm, fsec, &tz, ts) == 0;
}

static int
hexval_or_minus(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Canonical 8-4-4-4-12 lower or upper case hex to pg_uuid_t. */
static bool
parse_uuid(const char *s, pg_uuid_t *uuid)
{
	int			i = 0;
	int			n = 0;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++)
	{
		int			hi,
					lo;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
			continue;
		}
		hi = hexval_or_minus(s[i]);
		lo = hexval_or_minus(s[i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		uuid->data[n++] = (hi << 4) | lo;
		i++;
	}
	return n == UUID_LEN;
}

/* JSON semantic actions collecting the claims of a payload. */
static void
claims_object_start(void *state)
{
	TokenClaims *s = (TokenClaims *) state;

	if (s->depth == 0)
		s->top_is_object = true;
	else if (s->depth >= 2 && s->in_roles)
		s->roles_ok = false;
	s->depth++;
}

static void
claims_array_start(void *state)
{
	TokenClaims *s = (TokenClaims *) state;

	if (s->depth == 1 && s->current != NULL && strcmp(s->current, "roles") == 0)
	{
		s->in_roles = true;
		s->roles_ok = true;
	}
	else if (s->depth >= 2 && s->in_roles)
		s->roles_ok = false;
	s->depth++;
}

static void
claims_nest_end(void *state)
{
	TokenClaims *s = (TokenClaims *) state;

	s->depth--;
	if (s->depth == 1)
		s->in_roles = false;
}

static void
claims_field_start(void *state, char *fname, bool isnull)
{
	TokenClaims *s = (TokenClaims *) state;

	if (s->depth != 1)
		return;
	s->current = NULL;
	if (strcmp(fname, "id") == 0)
		s->id_count++, s->current = "id";
	else if (strcmp(fname, "username") == 0)
		s->username_count++, s->current = "username";
	else if (strcmp(fname, "roles") == 0)
		s->roles_count++, s->current = "roles";
	else if (strcmp(fname, "issued_at") == 0)
		s->issued_count++, s->current = "issued_at";
	else if (strcmp(fname, "expired_at") == 0)
		s->expired_count++, s->current = "expired_at";
}

static void
claims_scalar(void *state, char *token, JsonTokenType type)
{
	TokenClaims *s = (TokenClaims *) state;

	if (s->depth == 2 && s->in_roles)
	{
		if (type == JSON_TOKEN_STRING)
			s->roles = lappend(s->roles, token);
		else
			s->roles_ok = false;
		return;
	}
	if (s->depth != 1 || s->current == NULL || type != JSON_TOKEN_STRING)
		return;
	if (strcmp(s->current, "id") == 0)
		s->id = token;
	else if (strcmp(s->current, "username") == 0)
		s->username = token;
	else if (strcmp(s->current, "issued_at") == 0)
		s->issued_at = token;
	else if (strcmp(s->current, "expired_at") == 0)
		s->expired_at = token;
}

static void
claim_invalid(const char *claim)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("token claim %s is missing or invalid", claim)));
}

/*
 * Read the claims of a checked payload into token_claims values:
 * token_id, username, roles, issued_at, expires_at.
 */
static void
read_claims(text *payload, Datum *values)
{
	char	   *json = VARDATA_ANY(payload);
	size_t		len = VARSIZE_ANY_EXHDR(payload);
	TokenClaims claims;
	JsonSemAction sem;
	JsonLexContext *lex;
	pg_uuid_t  *uuid;
	TimestampTz issued_at;
	TimestampTz expires_at;
	Datum	   *roles;
	ListCell   *lc;
	int			n = 0;

	memset(&claims, 0, sizeof(claims));
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &claims;
	sem.object_start = claims_object_start;
	sem.object_end = claims_nest_end;
	sem.array_start = claims_array_start;
	sem.array_end = claims_nest_end;
	sem.object_field_start = claims_field_start;
	sem.scalar = claims_scalar;
	lex = makeJsonLexContextCstringLen(json, (int) len, GetDatabaseEncoding(), true);
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS || !claims.top_is_object)
		pgbank_token_invalid("token payload is not a json object");

	uuid = palloc(sizeof(pg_uuid_t));
	if (claims.id_count != 1 || claims.id == NULL || !parse_uuid(claims.id, uuid))
		claim_invalid("id");
	if (claims.username_count != 1 || claims.username == NULL ||
		claims.username[0] == '\0')
		claim_invalid("username");
	if (claims.roles_count != 1 || !claims.roles_ok)
		claim_invalid("roles");
	if (claims.issued_count != 1 || claims.issued_at == NULL ||
		!parse_rfc3339(claims.issued_at, &issued_at))
		claim_invalid("issued_at");
	if (claims.expired_count != 1 || claims.expired_at == NULL ||
		!parse_rfc3339(claims.expired_at, &expires_at))
		claim_invalid("expired_at");

	roles = palloc(sizeof(Datum) * (list_length(claims.roles) + 1));
	foreach(lc, claims.roles)
		roles[n++] = CStringGetTextDatum((char *) lfirst(lc));

	values[0] = UUIDPGetDatum(uuid);
	values[1] = CStringGetTextDatum(claims.username);
	values[2] = PointerGetDatum(construct_array(roles, n, TEXTOID, -1, false,
												TYPALIGN_INT));
	values[3] = TimestampTzGetDatum(issued_at);
	values[4] = TimestampTzGetDatum(expires_at);
}

/* Seconds since the Unix epoch, rounded down (a JWT NumericDate). */
static int64
unix_seconds(TimestampTz ts)
{
	int64		secs = ts / USECS_PER_SEC;

	if (ts % USECS_PER_SEC < 0)
		secs--;
	return secs + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
}

/* The payload JSON of a new token. */
static char *
make_payload(const char *id, const char *username, Datum *roles, int nroles,
			 TimestampTz issued_at, TimestampTz expires_at, bool jwt)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"id\":");
	escape_json(&buf, id);
	appendStringInfoString(&buf, ",\"username\":");
	escape_json(&buf, username);
	appendStringInfoString(&buf, ",\"role\":");
	escape_json(&buf, nroles > 0 ? TextDatumGetCString(roles[0]) : "");
	appendStringInfoString(&buf, ",\"roles\":[");
	for (i = 0; i < nroles; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		escape_json(&buf, TextDatumGetCString(roles[i]));
	}
	appendStringInfoString(&buf, "],\"issued_at\":");
	append_rfc3339(&buf, issued_at);
	appendStringInfoString(&buf, ",\"expired_at\":");
	append_rfc3339(&buf, expires_at);
	if (jwt)
	{
		appendStringInfoString(&buf, ",\"sub\":");
		escape_json(&buf, username);
		appendStringInfoString(&buf, ",\"jti\":");
		escape_json(&buf, id);
		appendStringInfo(&buf, ",\"iat\":" INT64_FORMAT ",\"exp\":" INT64_FORMAT,
						 unix_seconds(issued_at), unix_seconds(expires_at));
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * SQL function: pgbank.token_issue(username text, roles text[],
 *		duration interval) RETURNS TABLE (token text, token_id uuid,
 *		issued_at timestamptz, expires_at timestamptz)
 */
Datum
pgbank_token_issue(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *username;
	ArrayType  *roles_array;
	Datum	   *roles;
	bool	   *role_nulls;
	int			nroles;
	pg_uuid_t  *uuid;
	char	   *id;
	TimestampTz issued_at;
	TimestampTz expires_at;
	unsigned char key[PGBANK_TOKEN_KEY_BYTES];
	char	   *payload;
	text	   *volatile token = NULL;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	int			i;

	if (PG_ARGISNULL(0) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)) == 0)
		pgbank_invalid_input("username", "must not be empty");
	if (PG_ARGISNULL(1))
		pgbank_invalid_input("roles", "must not be null");
	if (PG_ARGISNULL(2))
		pgbank_invalid_input("duration", "must not be null");
	username = text_to_cstring(PG_GETARG_TEXT_PP(0));
	roles_array = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(roles_array) > 1)
		pgbank_invalid_input("roles", "must be a one-dimensional array");
	deconstruct_array(roles_array, TEXTOID, -1, false, TYPALIGN_INT,
					  &roles, &role_nulls, &nroles);
	for (i = 0; i < nroles; i++)
		if (role_nulls[i])
			pgbank_invalid_input("roles", "must not contain null");

	if (!configured_key(key))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgbank.token_key is not set"),
				 errhint("A superuser sets pgbank.token_key to 64 hexadecimal characters, in postgresql.conf or with ALTER SYSTEM.")));

	uuid = palloc(sizeof(pg_uuid_t));
	randombytes_buf(uuid->data, UUID_LEN);
	uuid->data[6] = (uuid->data[6] & 0x0f) | 0x40;	/* version 4 */
	uuid->data[8] = (uuid->data[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	id = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(uuid)));
	issued_at = GetCurrentTimestamp();
	expires_at = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														 TimestampTzGetDatum(issued_at),
														 PG_GETARG_DATUM(2)));
	PG_TRY();
	{
		payload = make_payload(id, username, roles, nroles, issued_at, expires_at,
							   token_format == TOKEN_FORMAT_JWT);
		if (token_format == TOKEN_FORMAT_JWT)
			token = pgbank_jwt_sign(payload, strlen(payload), key, sizeof(key));
		else
			token = pgbank_paseto_local_encrypt(payload, strlen(payload), key,
												"", 0, "", 0, NULL);
	}
	PG_FINALLY();
	{
		sodium_memzero(key, sizeof(key));
	}
	PG_END_TRY();

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	values[0] = PointerGetDatum(token);
	values[1] = UUIDPGetDatum(uuid);
	values[2] = TimestampTzGetDatum(issued_at);
	values[3] = TimestampTzGetDatum(expires_at);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/*
 * SQL function: pgbank.token_verify(token text) RETURNS pgbank.token_claims
 *
 * Checks format, key, integrity and expiry; every failure is 28000.
 */
Datum
pgbank_token_verify(PG_FUNCTION_ARGS)
{
	text	   *token;
	unsigned char key[PGBANK_TOKEN_KEY_BYTES];
	TimestampTz now = GetCurrentStatementStartTimestamp();
	text	   *volatile payload = NULL;
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	if (PG_ARGISNULL(0))
		pgbank_token_invalid("token is missing");
	token = PG_GETARG_TEXT_PP(0);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "pgbank: token_verify must return a composite type");
	if (!configured_key(key))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("token cannot be verified: pgbank.token_key is not set")));

	PG_TRY();
	{
		if (token_format == TOKEN_FORMAT_JWT)
			payload = pgbank_jwt_verify(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token),
										key, sizeof(key), now);
		else
			payload = pgbank_paseto_local_decrypt(VARDATA_ANY(token),
												  VARSIZE_ANY_EXHDR(token),
												  key, "", 0);
	}
	PG_FINALLY();
	{
		sodium_memzero(key, sizeof(key));
	}
	PG_END_TRY();

	read_claims(payload, values);
	if (now >= DatumGetTimestampTz(values[4]))
		pgbank_token_invalid("token has expired");

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}
