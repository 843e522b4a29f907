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
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "base64url.h"
#include "errors.h"
#include "json_fields.h"
#include "jwt.h"
#include "secret.h"

PG_FUNCTION_INFO_V1(pgbank_jwt_hs256_sign);
PG_FUNCTION_INFO_V1(pgbank_jwt_hs256_verify);

#define JWT_MIN_KEY_BYTES 32

/* base64url of {"alg":"HS256","typ":"JWT"} */
#define JWT_HEADER_B64 "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

/* The fields of a header, and of claims, that verifying checks. */
enum
{
	HEADER_ALG,
	HEADER_TYP,
	HEADER_CRIT,
	HEADER_FIELDS
};
enum
{
	CLAIM_EXP,
	CLAIM_NBF,
	CLAIM_FIELDS
};

/*
 * Collect the fields of a decoded segment, which must be text and a JSON
 * object; anything else is an invalid token.
 */
static void
parse_fields(char *json, size_t len, const char *what, const char *message,
			 JsonField *fields, int nfields)
{
	pgbank_check_utf8(json, len, what);
	if (!pgbank_json_fields(json, len, fields, nfields))
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

/* Seconds from the Unix epoch (1970) to PostgreSQL's (2000). */
#define UNIX_TO_POSTGRES_EPOCH_SECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

/*
 * NumericDate (seconds since the epoch, possibly fractional) to a
 * timestamp; false when it is out of range.
 */
static bool
numeric_date_timestamp(const char *number, TimestampTz *ts)
{
	double		secs = strtod(number, NULL);

	if (!isfinite(secs) || secs < -2.0e11 || secs > 2.0e11)
		return false;
	*ts = (TimestampTz) (secs * USECS_PER_SEC) -
		UNIX_TO_POSTGRES_EPOCH_SECS * USECS_PER_SEC;
	return true;
}

int64
pgbank_jwt_numeric_date(TimestampTz ts)
{
	int64		secs = ts / USECS_PER_SEC;

	if (ts % USECS_PER_SEC < 0)
		secs--;
	return secs + UNIX_TO_POSTGRES_EPOCH_SECS;
}

/*
 * An optional NumericDate claim: absent, or present once as a number in
 * range (then *ts is its time). False otherwise.
 */
static bool
optional_date(const JsonField *claim, TimestampTz *ts)
{
	if (claim->count == 0)
		return true;
	return claim->count == 1 && claim->ok &&
		numeric_date_timestamp(claim->value, ts);
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
	JsonField	hf[HEADER_FIELDS] = {
		[HEADER_ALG] = {.name = "alg", .type = JSON_FIELD_STRING},
		[HEADER_TYP] = {.name = "typ", .type = JSON_FIELD_STRING},
		[HEADER_CRIT] = {.name = "crit", .type = JSON_FIELD_ANY},
	};
	JsonField	cf[CLAIM_FIELDS] = {
		[CLAIM_EXP] = {.name = "exp", .type = JSON_FIELD_NUMBER},
		[CLAIM_NBF] = {.name = "nbf", .type = JSON_FIELD_NUMBER},
	};
	TimestampTz ts = 0;
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
				 "token header is not a json object", hf, HEADER_FIELDS);
	if (hf[HEADER_ALG].count != 1 || !hf[HEADER_ALG].ok)
		pgbank_token_invalid("token header must name its algorithm once");
	if (strcmp(hf[HEADER_ALG].value, "HS256") != 0)
		pgbank_token_invalid("token algorithm is not HS256");
	if (hf[HEADER_TYP].count > 1 ||
		(hf[HEADER_TYP].count == 1 && !typ_is_jwt(hf[HEADER_TYP].value)))
		pgbank_token_invalid("token type is not JWT");
	if (hf[HEADER_CRIT].count > 0)
		pgbank_token_invalid("token header has critical extensions");

	if (sig_len != sizeof(mac))
		pgbank_token_invalid("token is invalid or was signed with another key");
	hmac_sha256(key, keylen, token, dot2 - token, mac);
	if (crypto_verify_32(mac, sig) != 0)
		pgbank_token_invalid("token is invalid or was signed with another key");

	parse_fields((char *) claims, claims_len, "claims",
				 "token claims are not a json object", cf, CLAIM_FIELDS);
	if (!optional_date(&cf[CLAIM_EXP], &ts))
		pgbank_token_invalid("token claim exp is not one valid NumericDate");
	if (cf[CLAIM_EXP].count == 1 && now >= ts)
		pgbank_token_invalid("token has expired");
	if (!optional_date(&cf[CLAIM_NBF], &ts))
		pgbank_token_invalid("token claim nbf is not one valid NumericDate");
	if (cf[CLAIM_NBF].count == 1 && now < ts)
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
