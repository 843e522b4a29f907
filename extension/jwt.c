/*
 * jwt.c
 *		JSON Web Tokens signed with HMAC-SHA256 (RFC 7519, RFC 7515, and
 *		RFC 7518 section 3.2), with libsodium.
 *
 * Signing always writes the header {"alg":"HS256","typ":"JWT"}. Verifying
 * accepts a compact JWS of exactly three base64url segments whose header
 * is a JSON object with "alg" exactly "HS256" (so "none" and every other
 * algorithm are refused), "typ" absent or JWT (any case, with or without
 * "application/"), and no "crit"; the
 * signature is compared in constant time before the claims are read; then
 * "exp" (must be after now) and "nbf" (must not be after now) are checked
 * when present. The key may have any length of at least 32 bytes (RFC 7518
 * requires a key at least as long as the hash).
 */
#include "postgres.h"

#include <math.h>
#include <sodium.h>

#include "access/xact.h"
#include "common/jsonapi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "pgbank.h"
#include "tokens.h"

PG_FUNCTION_INFO_V1(pgbank_jwt_hs256_sign);
PG_FUNCTION_INFO_V1(pgbank_jwt_hs256_verify);

#define JWT_MIN_KEY_BYTES 32

/* base64url of {"alg":"HS256","typ":"JWT"} */
#define JWT_HEADER_B64 "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

/* What the top level of a header or claims object holds that we check. */
typedef struct JwtFields
{
	JsonLexContext *lex;
	int			depth;
	const char *current;		/* top-level field being read, or NULL */
	bool		top_is_object;
	int			alg_count;
	char	   *alg;			/* NULL unless a string */
	int			typ_count;
	char	   *typ;
	bool		has_crit;
	int			exp_count;
	char	   *exp;			/* the number's text; NULL unless a number */
	int			nbf_count;
	char	   *nbf;
} JwtFields;

static void
fields_object_start(void *state)
{
	JwtFields  *s = (JwtFields *) state;

	if (s->depth == 0)
		s->top_is_object = true;
	s->depth++;
}

static void
fields_nest_end(void *state)
{
	((JwtFields *) state)->depth--;
}

static void
fields_array_start(void *state)
{
	((JwtFields *) state)->depth++;
}

static void
fields_field_start(void *state, char *fname, bool isnull)
{
	JwtFields  *s = (JwtFields *) state;

	s->current = NULL;
	if (s->depth != 1)
		return;
	if (strcmp(fname, "alg") == 0)
		s->alg_count++, s->current = "alg";
	else if (strcmp(fname, "typ") == 0)
		s->typ_count++, s->current = "typ";
	else if (strcmp(fname, "crit") == 0)
		s->has_crit = true;
	else if (strcmp(fname, "exp") == 0)
		s->exp_count++, s->current = "exp";
	else if (strcmp(fname, "nbf") == 0)
		s->nbf_count++, s->current = "nbf";
}

static void
fields_scalar(void *state, char *token, JsonTokenType type)
{
	JwtFields  *s = (JwtFields *) state;

	if (s->depth != 1 || s->current == NULL)
		return;
	if (type == JSON_TOKEN_STRING && strcmp(s->current, "alg") == 0)
		s->alg = token;
	else if (type == JSON_TOKEN_STRING && strcmp(s->current, "typ") == 0)
		s->typ = token;
	else if (type == JSON_TOKEN_NUMBER && strcmp(s->current, "exp") == 0)
		s->exp = token;
	else if (type == JSON_TOKEN_NUMBER && strcmp(s->current, "nbf") == 0)
		s->nbf = token;
}

/*
 * Parse a decoded segment as a JSON object and collect the fields we
 * check. Anything else is an invalid token.
 */
static void
parse_fields(char *json, size_t len, const char *what, const char *message,
			 JwtFields *fields)
{
	JsonSemAction sem;

	memset(fields, 0, sizeof(*fields));
	memset(&sem, 0, sizeof(sem));
	pgbank_check_utf8(json, len, what);
	fields->lex = makeJsonLexContextCstringLen(json, (int) len,
											   GetDatabaseEncoding(), true);
	sem.semstate = fields;
	sem.object_start = fields_object_start;
	sem.object_end = fields_nest_end;
	sem.array_start = fields_array_start;
	sem.array_end = fields_nest_end;
	sem.object_field_start = fields_field_start;
	sem.scalar = fields_scalar;
	if (pg_parse_json(fields->lex, &sem) != JSON_SUCCESS || !fields->top_is_object)
		pgbank_token_invalid(message);
}

/*
 * "typ" is a media type, compared without regard to case, whose
 * "application/" prefix may be left out (RFC 7515 section 4.1.9).
 */
static bool
typ_is_jwt(const char *typ)
{
	return typ != NULL && (pg_strcasecmp(typ, "JWT") == 0 ||
						   pg_strcasecmp(typ, "application/jwt") == 0);
}

/* HMAC-SHA256 of data under a key of any length. */
static void
hmac_sha256(const unsigned char *key, size_t keylen, const char *data,
			size_t len, unsigned char *mac)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *) data, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof(st));
}

static void
check_jwt_key(size_t keylen)
{
	if (keylen < JWT_MIN_KEY_BYTES)
		pgbank_invalid_input("key", psprintf("must be at least %d bytes",
											 JWT_MIN_KEY_BYTES));
}

/*
 * NumericDate (seconds since the epoch, possibly fractional) to a
 * timestamp; false when it is out of range.
 */
static bool
numeric_date(const char *number, TimestampTz *ts)
{
	double		secs = strtod(number, NULL);

	if (!isfinite(secs) || secs < -2.0e11 || secs > 2.0e11)
		return false;
	*ts = (TimestampTz) (secs * USECS_PER_SEC) -
		((POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC);
	return true;
}

text *
pgbank_jwt_sign(const char *claims, size_t len, const unsigned char *key,
				size_t keylen)
{
	StringInfoData tok;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char	   *b64;

	check_jwt_key(keylen);
	initStringInfo(&tok);
	appendStringInfoString(&tok, JWT_HEADER_B64 ".");
	b64 = pgbank_b64url_encode((const unsigned char *) claims, len);
	appendStringInfoString(&tok, b64);
	pfree(b64);
	hmac_sha256(key, keylen, tok.data, tok.len, mac);
	b64 = pgbank_b64url_encode(mac, sizeof(mac));
	appendStringInfoChar(&tok, '.');
	appendStringInfoString(&tok, b64);
	pfree(b64);
	return cstring_to_text_with_len(tok.data, tok.len);
}

text *
pgbank_jwt_verify(const char *token, size_t len, const unsigned char *key,
				  size_t keylen, TimestampTz now)
{
	const char *dot1;
	const char *dot2;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	unsigned char *header;
	unsigned char *claims;
	unsigned char *sig;
	size_t		header_len;
	size_t		claims_len;
	size_t		sig_len;
	JwtFields	fields;
	TimestampTz ts;
	text	   *result;

	check_jwt_key(keylen);
	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (dot1 + 1 - token)) : NULL;
	if (dot2 == NULL || memchr(dot2 + 1, '.', len - (dot2 + 1 - token)) != NULL)
		pgbank_token_invalid("token is not a jwt: it must have three segments");

	header = pgbank_b64url_decode(token, dot1 - token, &header_len);
	claims = pgbank_b64url_decode(dot1 + 1, dot2 - dot1 - 1, &claims_len);
	sig = pgbank_b64url_decode(dot2 + 1, len - (dot2 + 1 - token), &sig_len);
	if (header == NULL || claims == NULL || sig == NULL)
		pgbank_token_invalid("token is not valid base64url");

	parse_fields((char *) header, header_len, "header",
				 "token header is not a json object", &fields);
	if (fields.alg_count != 1 || fields.alg == NULL)
		pgbank_token_invalid("token header must name its algorithm once");
	if (strcmp(fields.alg, "HS256") != 0)
		pgbank_token_invalid("token algorithm is not HS256");
	if (fields.typ_count > 1 || (fields.typ_count == 1 && !typ_is_jwt(fields.typ)))
		pgbank_token_invalid("token type is not JWT");
	if (fields.has_crit)
		pgbank_token_invalid("token header has critical extensions");

	if (sig_len != sizeof(mac))
		pgbank_token_invalid("token is invalid or was signed with another key");
	hmac_sha256(key, keylen, token, dot2 - token, mac);
	if (crypto_verify_32(mac, sig) != 0)
		pgbank_token_invalid("token is invalid or was signed with another key");

	parse_fields((char *) claims, claims_len, "claims",
				 "token claims are not a json object", &fields);
	if (fields.exp_count > 1 || (fields.exp_count == 1 &&
								 (fields.exp == NULL || !numeric_date(fields.exp, &ts))))
		pgbank_token_invalid("token claim exp is not one valid NumericDate");
	if (fields.exp_count == 1 && now >= ts)
		pgbank_token_invalid("token has expired");
	if (fields.nbf_count > 1 || (fields.nbf_count == 1 &&
								 (fields.nbf == NULL || !numeric_date(fields.nbf, &ts))))
		pgbank_token_invalid("token claim nbf is not one valid NumericDate");
	if (fields.nbf_count == 1 && now < ts)
		pgbank_token_invalid("token is not valid yet");

	result = cstring_to_text_with_len((char *) claims, claims_len);
	pfree(header);
	pfree(claims);
	pfree(sig);
	return result;
}

/*
 * SQL function: pgbank.jwt_hs256_sign(claims json, key bytea) RETURNS text
 */
Datum
pgbank_jwt_hs256_sign(PG_FUNCTION_ARGS)
{
	text	   *claims;
	bytea	   *key;
	const char *p;
	const char *end;
	text	   *result;

	pgbank_check_not_null(PG_ARGISNULL(0), "claims");
	pgbank_check_not_null(PG_ARGISNULL(1), "key");
	claims = PG_GETARG_TEXT_PP(0);
	key = PG_GETARG_BYTEA_PP(1);

	/* json input is valid JSON already; the claims set must be an object */
	p = VARDATA_ANY(claims);
	end = p + VARSIZE_ANY_EXHDR(claims);
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	if (p == end || *p != '{')
		pgbank_invalid_input("claims", "must be a json object");

	result = pgbank_jwt_sign(VARDATA_ANY(claims), VARSIZE_ANY_EXHDR(claims),
							 (unsigned char *) VARDATA_ANY(key),
							 VARSIZE_ANY_EXHDR(key));
	pgbank_wipe_key_copy(key, PG_GETARG_DATUM(1));
	PG_RETURN_TEXT_P(result);
}

/*
 * SQL function: pgbank.jwt_hs256_verify(token text, key bytea) RETURNS json
 *
 * The claims, once the header, signature, exp and nbf have been checked.
 */
Datum
pgbank_jwt_hs256_verify(PG_FUNCTION_ARGS)
{
	text	   *token;
	bytea	   *key;
	text	   *result;

	if (PG_ARGISNULL(0))
		pgbank_token_invalid("token is missing");
	pgbank_check_not_null(PG_ARGISNULL(1), "key");
	token = PG_GETARG_TEXT_PP(0);
	key = PG_GETARG_BYTEA_PP(1);

	result = pgbank_jwt_verify(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token),
							   (unsigned char *) VARDATA_ANY(key),
							   VARSIZE_ANY_EXHDR(key),
							   GetCurrentStatementStartTimestamp());
	pgbank_wipe_key_copy(key, PG_GETARG_DATUM(1));
	PG_RETURN_TEXT_P(result);
}
