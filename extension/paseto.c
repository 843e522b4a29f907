/*
 * paseto.c
 *		PASETO version 4 (v4.local and v4.public) with libsodium, byte for
 *		byte as the PASETO v4 specification defines it.
 *
 * v4.local: with a random 32-byte nonce n, the key k is split as
 *   Ek || n2 = BLAKE2b-448(key = k, "paseto-encryption-key" || n)
 *   Ak       = BLAKE2b-256(key = k, "paseto-auth-key-for-aead" || n)
 * the payload is encrypted with XChaCha20(Ek, n2), and the tag is
 * BLAKE2b-256(key = Ak, PAE(header, n, c, footer, implicit assertion)).
 * Token: "v4.local." || b64(n || c || tag) [ "." || b64(footer) ].
 *
 * v4.public signs PAE(header, m, footer, implicit assertion) with Ed25519.
 * Token: "v4.public." || b64(m || sig) [ "." || b64(footer) ].
 *
 * A footer, when the token has one, is authenticated (it is part of PAE),
 * so decrypt and verify need no expected footer: they reject a changed
 * footer. pgbank.paseto_footer() reads a token's footer (for key ids)
 * without checking it; it is trustworthy only once decrypt or verify has
 * accepted the token.
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "base64url.h"
#include "errors.h"
#include "paseto.h"
#include "secret.h"

PG_FUNCTION_INFO_V1(pgbank_paseto_v4_local_encrypt);
PG_FUNCTION_INFO_V1(pgbank_paseto_v4_local_encrypt_nonce);
PG_FUNCTION_INFO_V1(pgbank_paseto_v4_local_decrypt);
PG_FUNCTION_INFO_V1(pgbank_paseto_v4_public_sign);
PG_FUNCTION_INFO_V1(pgbank_paseto_v4_public_verify);
PG_FUNCTION_INFO_V1(pgbank_paseto_footer);

#define LOCAL_HEADER "v4.local."
#define PUBLIC_HEADER "v4.public."
#define NONCE_BYTES 32
#define TAG_BYTES 32
#define SPLIT_BYTES 56			/* Ek (32) || n2 (24) */

static void
check_key_length(bytea *key, size_t expected, const char *field)
{
	if (VARSIZE_ANY_EXHDR(key) != expected)
		pgbank_invalid_input(field, psprintf("must be %zu bytes", expected));
}

/*
 * Pre-authentication encoding: LE64(count), then LE64(length) || piece for
 * each piece (the top bit of every LE64 is clear).
 */
static void
pae_le64(StringInfo buf, uint64 n)
{
	unsigned char b[8];
	int			i;

	n &= UINT64CONST(0x7fffffffffffffff);
	for (i = 0; i < 8; i++)
	{
		b[i] = n & 0xff;
		n >>= 8;
	}
	appendBinaryStringInfo(buf, (char *) b, 8);
}

static void
pae(StringInfo buf, int count, const char **pieces, const size_t *lengths)
{
	int			i;

	pae_le64(buf, count);
	for (i = 0; i < count; i++)
	{
		pae_le64(buf, lengths[i]);
		appendBinaryStringInfo(buf, pieces[i], lengths[i]);
	}
}

/* Ek || n2 and Ak from the key and the nonce; the caller wipes both. */
static void
local_split_key(const unsigned char *key, const unsigned char *nonce,
				unsigned char *ek_n2, unsigned char *ak)
{
	static const char enc_label[] = "paseto-encryption-key";
	static const char auth_label[] = "paseto-auth-key-for-aead";
	crypto_generichash_blake2b_state st;

	crypto_generichash_blake2b_init(&st, key, PGBANK_TOKEN_KEY_BYTES, SPLIT_BYTES);
	crypto_generichash_blake2b_update(&st, (const unsigned char *) enc_label,
									  sizeof(enc_label) - 1);
	crypto_generichash_blake2b_update(&st, nonce, NONCE_BYTES);
	crypto_generichash_blake2b_final(&st, ek_n2, SPLIT_BYTES);

	crypto_generichash_blake2b_init(&st, key, PGBANK_TOKEN_KEY_BYTES, TAG_BYTES);
	crypto_generichash_blake2b_update(&st, (const unsigned char *) auth_label,
									  sizeof(auth_label) - 1);
	crypto_generichash_blake2b_update(&st, nonce, NONCE_BYTES);
	crypto_generichash_blake2b_final(&st, ak, TAG_BYTES);
	sodium_memzero(&st, sizeof(st));
}

/* The tag over PAE(h, n, c, f, i). */
static void
local_tag(const unsigned char *ak, const unsigned char *nonce,
		  const unsigned char *c, size_t clen, const char *f, size_t flen,
		  const char *i, size_t ilen, unsigned char *tag)
{
	StringInfoData pre;
	const char *pieces[5];
	size_t		lengths[5];

	pieces[0] = LOCAL_HEADER;
	lengths[0] = strlen(LOCAL_HEADER);
	pieces[1] = (const char *) nonce;
	lengths[1] = NONCE_BYTES;
	pieces[2] = (const char *) c;
	lengths[2] = clen;
	pieces[3] = f;
	lengths[3] = flen;
	pieces[4] = i;
	lengths[4] = ilen;
	initStringInfo(&pre);
	pae(&pre, 5, pieces, lengths);
	crypto_generichash_blake2b(tag, TAG_BYTES, (unsigned char *) pre.data,
							   pre.len, ak, TAG_BYTES);
	pfree(pre.data);
}

/* header || b64(body) [ "." || b64(footer) ] as text */
static text *
assemble_token(const char *header, const unsigned char *body, size_t blen,
			   const char *f, size_t flen)
{
	StringInfoData tok;
	char	   *b64;

	initStringInfo(&tok);
	appendStringInfoString(&tok, header);
	b64 = pgbank_b64url_encode(body, blen);
	appendStringInfoString(&tok, b64);
	pfree(b64);
	if (flen > 0)
	{
		b64 = pgbank_b64url_encode((const unsigned char *) f, flen);
		appendStringInfoChar(&tok, '.');
		appendStringInfoString(&tok, b64);
		pfree(b64);
	}
	return cstring_to_text_with_len(tok.data, tok.len);
}

/*
 * Split a token into its body and footer after checking the header; decode
 * both. The footer is empty when the token has none.
 */
static unsigned char *
split_token(const char *token, size_t len, const char *header,
			size_t *blen, unsigned char **footer, size_t *flen)
{
	size_t		hlen = strlen(header);
	const char *body;
	const char *dot;
	size_t		body_len;
	unsigned char *bin;

	if (len < hlen || memcmp(token, header, hlen) != 0)
	{
		if (strcmp(header, LOCAL_HEADER) == 0)
			pgbank_token_invalid("token is not a v4.local paseto token");
		pgbank_token_invalid("token is not a v4.public paseto token");
	}
	body = token + hlen;
	dot = memchr(body, '.', len - hlen);
	body_len = dot ? (size_t) (dot - body) : len - hlen;
	bin = pgbank_b64url_decode(body, body_len, blen);
	if (bin == NULL)
		pgbank_token_invalid("token is not valid base64url");
	*flen = 0;
	*footer = NULL;
	if (dot != NULL)
	{
		size_t		rest = len - hlen - body_len - 1;

		if (rest == 0)
			pgbank_token_invalid("token has an empty footer");
		*footer = pgbank_b64url_decode(dot + 1, rest, flen);
		if (*footer == NULL)
			pgbank_token_invalid("token footer is not valid base64url");
	}
	return bin;
}

text *
pgbank_paseto_local_encrypt(const char *m, size_t mlen,
							const unsigned char *key,
							const char *f, size_t flen,
							const char *i, size_t ilen,
							const unsigned char *nonce)
{
	unsigned char ek_n2[SPLIT_BYTES];
	unsigned char ak[TAG_BYTES];
	unsigned char *body;
	size_t		blen = NONCE_BYTES + mlen + TAG_BYTES;
	text	   *result;

	body = palloc(blen);
	if (nonce != NULL)
		memcpy(body, nonce, NONCE_BYTES);
	else
		randombytes_buf(body, NONCE_BYTES);
	local_split_key(key, body, ek_n2, ak);
	crypto_stream_xchacha20_xor(body + NONCE_BYTES, (const unsigned char *) m,
								mlen, ek_n2 + 32, ek_n2);
	local_tag(ak, body, body + NONCE_BYTES, mlen, f, flen, i, ilen,
			  body + NONCE_BYTES + mlen);
	sodium_memzero(ek_n2, sizeof(ek_n2));
	sodium_memzero(ak, sizeof(ak));

	result = assemble_token(LOCAL_HEADER, body, blen, f, flen);
	pfree(body);
	return result;
}

text *
pgbank_paseto_local_decrypt(const char *token, size_t len,
							const unsigned char *key,
							const char *i, size_t ilen)
{
	unsigned char ek_n2[SPLIT_BYTES];
	unsigned char ak[TAG_BYTES];
	unsigned char tag[TAG_BYTES];
	unsigned char *body;
	unsigned char *footer;
	size_t		blen;
	size_t		flen;
	size_t		clen;
	char	   *m;
	bool		tag_ok;
	text	   *result;

	body = split_token(token, len, LOCAL_HEADER, &blen, &footer, &flen);
	if (blen < NONCE_BYTES + TAG_BYTES)
		pgbank_token_invalid("token is too short");
	clen = blen - NONCE_BYTES - TAG_BYTES;

	local_split_key(key, body, ek_n2, ak);
	local_tag(ak, body, body + NONCE_BYTES, clen, (char *) footer, flen,
			  i, ilen, tag);
	tag_ok = crypto_verify_32(tag, body + NONCE_BYTES + clen) == 0;
	sodium_memzero(ak, sizeof(ak));
	if (!tag_ok)
	{
		sodium_memzero(ek_n2, sizeof(ek_n2));
		pgbank_token_invalid("token is invalid or was made with another key");
	}

	m = palloc(clen + 1);
	crypto_stream_xchacha20_xor((unsigned char *) m, body + NONCE_BYTES, clen,
								ek_n2 + 32, ek_n2);
	sodium_memzero(ek_n2, sizeof(ek_n2));
	m[clen] = '\0';
	pgbank_check_utf8(m, clen, "payload");
	result = cstring_to_text_with_len(m, clen);
	sodium_memzero(m, clen);
	pfree(m);
	pfree(body);
	return result;
}

/*
 * SQL function: pgbank.paseto_v4_local_encrypt(payload text, key bytea,
 *		footer text DEFAULT '', implicit_assertion text DEFAULT '') RETURNS text
 */
Datum
pgbank_paseto_v4_local_encrypt(PG_FUNCTION_ARGS)
{
	text	   *payload;
	bytea	   *key;
	text	   *footer;
	text	   *ia;
	text	   *result;

	pgbank_check_not_null(PG_ARGISNULL(0), "payload");
	pgbank_check_not_null(PG_ARGISNULL(1), "key");
	pgbank_check_not_null(PG_ARGISNULL(2), "footer");
	pgbank_check_not_null(PG_ARGISNULL(3), "implicit_assertion");
	payload = PG_GETARG_TEXT_PP(0);
	key = PG_GETARG_BYTEA_PP(1);
	footer = PG_GETARG_TEXT_PP(2);
	ia = PG_GETARG_TEXT_PP(3);
	check_key_length(key, PGBANK_TOKEN_KEY_BYTES, "key");

	result = pgbank_paseto_local_encrypt(VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload),
										 (unsigned char *) VARDATA_ANY(key),
										 VARDATA_ANY(footer), VARSIZE_ANY_EXHDR(footer),
										 VARDATA_ANY(ia), VARSIZE_ANY_EXHDR(ia),
										 NULL);
	pgbank_wipe_key_copy(key, PG_GETARG_DATUM(1));
	PG_RETURN_TEXT_P(result);
}

/*
 * SQL function: pgbank.paseto_v4_local_encrypt_nonce(payload bytea,
 *		key bytea, nonce bytea, footer text, implicit_assertion text)
 *		RETURNS text
 *
 * For tests only (the official vectors fix the nonce; a reused nonce
 * breaks v4.local): not executable by PUBLIC. The payload is bytea so that
 * the tests can also make a token whose payload is not valid text.
 */
Datum
pgbank_paseto_v4_local_encrypt_nonce(PG_FUNCTION_ARGS)
{
	bytea	   *payload;
	bytea	   *key;
	bytea	   *nonce;
	text	   *footer;
	text	   *ia;
	text	   *result;

	pgbank_check_not_null(PG_ARGISNULL(0), "payload");
	pgbank_check_not_null(PG_ARGISNULL(1), "key");
	pgbank_check_not_null(PG_ARGISNULL(2), "nonce");
	pgbank_check_not_null(PG_ARGISNULL(3), "footer");
	pgbank_check_not_null(PG_ARGISNULL(4), "implicit_assertion");
	payload = PG_GETARG_BYTEA_PP(0);
	key = PG_GETARG_BYTEA_PP(1);
	nonce = PG_GETARG_BYTEA_PP(2);
	footer = PG_GETARG_TEXT_PP(3);
	ia = PG_GETARG_TEXT_PP(4);
	check_key_length(key, PGBANK_TOKEN_KEY_BYTES, "key");
	check_key_length(nonce, NONCE_BYTES, "nonce");

	result = pgbank_paseto_local_encrypt(VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload),
										 (unsigned char *) VARDATA_ANY(key),
										 VARDATA_ANY(footer), VARSIZE_ANY_EXHDR(footer),
										 VARDATA_ANY(ia), VARSIZE_ANY_EXHDR(ia),
										 (unsigned char *) VARDATA_ANY(nonce));
	pgbank_wipe_key_copy(key, PG_GETARG_DATUM(1));
	PG_RETURN_TEXT_P(result);
}

/*
 * SQL function: pgbank.paseto_v4_local_decrypt(token text, key bytea,
 *		implicit_assertion text DEFAULT '') RETURNS text
 */
Datum
pgbank_paseto_v4_local_decrypt(PG_FUNCTION_ARGS)
{
	text	   *token;
	bytea	   *key;
	text	   *ia;
	text	   *result;

	if (PG_ARGISNULL(0))
		pgbank_token_invalid("token is missing");
	pgbank_check_not_null(PG_ARGISNULL(1), "key");
	pgbank_check_not_null(PG_ARGISNULL(2), "implicit_assertion");
	token = PG_GETARG_TEXT_PP(0);
	key = PG_GETARG_BYTEA_PP(1);
	ia = PG_GETARG_TEXT_PP(2);
	check_key_length(key, PGBANK_TOKEN_KEY_BYTES, "key");

	result = pgbank_paseto_local_decrypt(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token),
										 (unsigned char *) VARDATA_ANY(key),
										 VARDATA_ANY(ia), VARSIZE_ANY_EXHDR(ia));
	pgbank_wipe_key_copy(key, PG_GETARG_DATUM(1));
	PG_RETURN_TEXT_P(result);
}

/* PAE(h, m, f, i) for v4.public */
static void
public_pae(StringInfo pre, const char *m, size_t mlen, const char *f,
		   size_t flen, const char *i, size_t ilen)
{
	const char *pieces[4];
	size_t		lengths[4];

	pieces[0] = PUBLIC_HEADER;
	lengths[0] = strlen(PUBLIC_HEADER);
	pieces[1] = m;
	lengths[1] = mlen;
	pieces[2] = f;
	lengths[2] = flen;
	pieces[3] = i;
	lengths[3] = ilen;
	initStringInfo(pre);
	pae(pre, 4, pieces, lengths);
}

/*
 * SQL function: pgbank.paseto_v4_public_sign(payload text, secret_key bytea,
 *		footer text DEFAULT '', implicit_assertion text DEFAULT '') RETURNS text
 *
 * secret_key is libsodium's 64-byte Ed25519 secret key (seed || public key).
 */
Datum
pgbank_paseto_v4_public_sign(PG_FUNCTION_ARGS)
{
	text	   *payload;
	bytea	   *sk;
	text	   *footer;
	text	   *ia;
	StringInfoData pre;
	unsigned char *body;
	size_t		mlen;
	text	   *result;

	pgbank_check_not_null(PG_ARGISNULL(0), "payload");
	pgbank_check_not_null(PG_ARGISNULL(1), "secret_key");
	pgbank_check_not_null(PG_ARGISNULL(2), "footer");
	pgbank_check_not_null(PG_ARGISNULL(3), "implicit_assertion");
	payload = PG_GETARG_TEXT_PP(0);
	sk = PG_GETARG_BYTEA_PP(1);
	footer = PG_GETARG_TEXT_PP(2);
	ia = PG_GETARG_TEXT_PP(3);
	check_key_length(sk, crypto_sign_ed25519_SECRETKEYBYTES, "secret_key");

	mlen = VARSIZE_ANY_EXHDR(payload);
	public_pae(&pre, VARDATA_ANY(payload), mlen,
			   VARDATA_ANY(footer), VARSIZE_ANY_EXHDR(footer),
			   VARDATA_ANY(ia), VARSIZE_ANY_EXHDR(ia));
	body = palloc(mlen + crypto_sign_ed25519_BYTES);
	memcpy(body, VARDATA_ANY(payload), mlen);
	crypto_sign_ed25519_detached(body + mlen, NULL, (unsigned char *) pre.data,
								 pre.len, (unsigned char *) VARDATA_ANY(sk));
	pgbank_wipe_key_copy(sk, PG_GETARG_DATUM(1));
	pfree(pre.data);

	result = assemble_token(PUBLIC_HEADER, body, mlen + crypto_sign_ed25519_BYTES,
							VARDATA_ANY(footer), VARSIZE_ANY_EXHDR(footer));
	pfree(body);
	PG_RETURN_TEXT_P(result);
}

/*
 * SQL function: pgbank.paseto_v4_public_verify(token text, public_key bytea,
 *		implicit_assertion text DEFAULT '') RETURNS text
 */
Datum
pgbank_paseto_v4_public_verify(PG_FUNCTION_ARGS)
{
	text	   *token;
	bytea	   *pk;
	text	   *ia;
	StringInfoData pre;
	unsigned char *body;
	unsigned char *footer;
	size_t		blen;
	size_t		flen;
	size_t		mlen;
	text	   *result;

	if (PG_ARGISNULL(0))
		pgbank_token_invalid("token is missing");
	pgbank_check_not_null(PG_ARGISNULL(1), "public_key");
	pgbank_check_not_null(PG_ARGISNULL(2), "implicit_assertion");
	token = PG_GETARG_TEXT_PP(0);
	pk = PG_GETARG_BYTEA_PP(1);
	ia = PG_GETARG_TEXT_PP(2);
	check_key_length(pk, crypto_sign_ed25519_PUBLICKEYBYTES, "public_key");

	body = split_token(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token),
					   PUBLIC_HEADER, &blen, &footer, &flen);
	if (blen < crypto_sign_ed25519_BYTES)
		pgbank_token_invalid("token is too short");
	mlen = blen - crypto_sign_ed25519_BYTES;
	public_pae(&pre, (char *) body, mlen, (char *) footer, flen,
			   VARDATA_ANY(ia), VARSIZE_ANY_EXHDR(ia));
	if (crypto_sign_ed25519_verify_detached(body + mlen, (unsigned char *) pre.data,
											pre.len, (unsigned char *) VARDATA_ANY(pk)) != 0)
		pgbank_token_invalid("token is invalid or was signed with another key");
	pfree(pre.data);

	pgbank_check_utf8((char *) body, mlen, "payload");
	result = cstring_to_text_with_len((char *) body, mlen);
	pfree(body);
	PG_RETURN_TEXT_P(result);
}

/*
 * SQL function: pgbank.paseto_footer(token text) RETURNS text
 *
 * The decoded footer of a v4 token ('' when it has none), NOT checked:
 * use it to choose a key, and trust it only after decrypt or verify has
 * accepted the token (they authenticate the footer).
 */
Datum
pgbank_paseto_footer(PG_FUNCTION_ARGS)
{
	text	   *token = PG_GETARG_TEXT_PP(0);
	const char *t = VARDATA_ANY(token);
	size_t		len = VARSIZE_ANY_EXHDR(token);
	const char *header;
	unsigned char *body;
	unsigned char *footer;
	size_t		blen;
	size_t		flen;
	text	   *result;

	if (len >= strlen(PUBLIC_HEADER) &&
		memcmp(t, PUBLIC_HEADER, strlen(PUBLIC_HEADER)) == 0)
		header = PUBLIC_HEADER;
	else if (len >= strlen(LOCAL_HEADER) &&
			 memcmp(t, LOCAL_HEADER, strlen(LOCAL_HEADER)) == 0)
		header = LOCAL_HEADER;
	else
		pgbank_token_invalid("token is not a v4 paseto token");
	body = split_token(t, len, header, &blen, &footer, &flen);
	pfree(body);
	if (footer == NULL)
		PG_RETURN_TEXT_P(cstring_to_text(""));
	pgbank_check_utf8((char *) footer, flen, "footer");
	result = cstring_to_text_with_len((char *) footer, flen);
	pfree(footer);
	PG_RETURN_TEXT_P(result);
}
