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
 * its check hook reports a bad value without repeating it. The lifetimes of
 * what login and renewal issue (pgbank.access_token_duration and
 * pgbank.refresh_token_duration) are settings of this module too; the SQL
 * of sessions (sql/src/30_sessions.sql) reads them.
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "errors.h"
#include "json_fields.h"
#include "jwt.h"
#include "paseto.h"
#include "pgbank.h"

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

/* Lifetimes of what login and renewal issue; seconds (GUC_UNIT_S). */
static int	access_token_duration = 15 * 60;
static int	refresh_token_duration = 24 * 60 * 60;

/* The claims read back from a payload. */
enum
{
	CLAIM_ID,
	CLAIM_USERNAME,
	CLAIM_ROLES,
	CLAIM_ISSUED_AT,
	CLAIM_EXPIRED_AT,
	CLAIMS
};

/*
 * A key of 64 hexadecimal characters to its 32 bytes; false (and key wiped)
 * for anything else. The caller wipes key.
 */
static bool
key_from_hex(const char *hex, unsigned char *key)
{
	size_t		n = 0;

	if (hex == NULL || strlen(hex) != 2 * PGBANK_TOKEN_KEY_BYTES ||
		sodium_hex2bin(key, PGBANK_TOKEN_KEY_BYTES, hex, strlen(hex),
					   NULL, &n, NULL) != 0 || n != PGBANK_TOKEN_KEY_BYTES)
	{
		sodium_memzero(key, PGBANK_TOKEN_KEY_BYTES);
		return false;
	}
	return true;
}

static bool
token_key_check(char **newval, void **extra, GucSource source)
{
	unsigned char key[PGBANK_TOKEN_KEY_BYTES];
	bool		valid;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;			/* unset: issuing and verifying refuse */
	valid = key_from_hex(*newval, key);
	sodium_memzero(key, sizeof(key));
	if (!valid)
	{
		/* a message of our own, so that PostgreSQL does not echo the value */
		GUC_check_errmsg("pgbank.token_key must be %d hexadecimal characters",
						 2 * PGBANK_TOKEN_KEY_BYTES);
		return false;
	}
	return true;
}

void
pgbank_token_init(void)
{
	DefineCustomIntVariable("pgbank.access_token_duration",
							"How long an access token issued by login or renewal is valid.",
							NULL,
							&access_token_duration,
							15 * 60, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.refresh_token_duration",
							"How long a session (its refresh token) is valid.",
							NULL,
							&refresh_token_duration,
							24 * 60 * 60, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
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
	return key_from_hex(token_key, key);
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

/* Canonical 8-4-4-4-12 lower or upper case hex to pg_uuid_t. */
static bool
parse_uuid(const char *s, pg_uuid_t *uuid)
{
	size_t		n = 0;

	/* with the dashes in place, "-" may be skipped only there */
	return strlen(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' &&
		s[23] == '-' &&
		sodium_hex2bin(uuid->data, UUID_LEN, s, 36, "-", &n, NULL) == 0 &&
		n == UUID_LEN;
}

/* A claim a payload must have exactly once, with a value of its type. */
static bool
one_claim(const JsonField *claim)
{
	return claim->count == 1 && claim->ok;
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
	JsonField	claims[CLAIMS] = {
		[CLAIM_ID] = {.name = "id", .type = JSON_FIELD_STRING},
		[CLAIM_USERNAME] = {.name = "username", .type = JSON_FIELD_STRING},
		[CLAIM_ROLES] = {.name = "roles", .type = JSON_FIELD_STRING_ARRAY},
		[CLAIM_ISSUED_AT] = {.name = "issued_at", .type = JSON_FIELD_STRING},
		[CLAIM_EXPIRED_AT] = {.name = "expired_at", .type = JSON_FIELD_STRING},
	};
	pg_uuid_t  *uuid;
	TimestampTz issued_at;
	TimestampTz expires_at;
	Datum	   *roles;
	ListCell   *lc;
	int			n = 0;

	if (!pgbank_json_fields(VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload),
							claims, CLAIMS))
		pgbank_token_invalid("token payload is not a json object");

	uuid = palloc(sizeof(pg_uuid_t));
	if (!one_claim(&claims[CLAIM_ID]) || !parse_uuid(claims[CLAIM_ID].value, uuid))
		claim_invalid("id");
	if (!one_claim(&claims[CLAIM_USERNAME]) || claims[CLAIM_USERNAME].value[0] == '\0')
		claim_invalid("username");
	if (!one_claim(&claims[CLAIM_ROLES]))
		claim_invalid("roles");
	if (!one_claim(&claims[CLAIM_ISSUED_AT]) ||
		!parse_rfc3339(claims[CLAIM_ISSUED_AT].value, &issued_at))
		claim_invalid("issued_at");
	if (!one_claim(&claims[CLAIM_EXPIRED_AT]) ||
		!parse_rfc3339(claims[CLAIM_EXPIRED_AT].value, &expires_at))
		claim_invalid("expired_at");

	roles = palloc(sizeof(Datum) * (list_length(claims[CLAIM_ROLES].strings) + 1));
	foreach(lc, claims[CLAIM_ROLES].strings)
		roles[n++] = CStringGetTextDatum((char *) lfirst(lc));

	values[0] = UUIDPGetDatum(uuid);
	values[1] = CStringGetTextDatum(claims[CLAIM_USERNAME].value);
	values[2] = PointerGetDatum(construct_array(roles, n, TEXTOID, -1, false,
												TYPALIGN_INT));
	values[3] = TimestampTzGetDatum(issued_at);
	values[4] = TimestampTzGetDatum(expires_at);
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
						 pgbank_jwt_numeric_date(issued_at),
						 pgbank_jwt_numeric_date(expires_at));
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
