/*
 * tokens.h
 *		Internal interface between the token modules: base64url (paseto.c),
 *		PASETO v4.local (paseto.c), JWT HS256 (jwt.c) and the token Maker
 *		(token.c).
 *
 * Functions that check a token raise ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION
 * (28000) on any failure; they never return a half-checked result.
 */
#ifndef PGBANK_TOKENS_H
#define PGBANK_TOKENS_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* Symmetric key length of v4.local and of pgbank.token_key. */
#define PGBANK_TOKEN_KEY_BYTES 32

/* base64url without padding (RFC 4648 section 5), strict decoding. */
extern char *pgbank_b64url_encode(const unsigned char *bin, size_t len);
extern unsigned char *pgbank_b64url_decode(const char *b64, size_t len,
										   size_t *binlen);

/* PASETO v4.local; nonce NULL means a fresh random one. */
extern text *pgbank_paseto_local_encrypt(const char *m, size_t mlen,
										 const unsigned char *key,
										 const char *f, size_t flen,
										 const char *i, size_t ilen,
										 const unsigned char *nonce);
extern text *pgbank_paseto_local_decrypt(const char *token, size_t len,
										 const unsigned char *key,
										 const char *i, size_t ilen);

/* JWT HS256 (RFC 7519, 7515); verify checks the signature, exp and nbf. */
extern text *pgbank_jwt_sign(const char *claims, size_t len,
							 const unsigned char *key, size_t keylen);
extern text *pgbank_jwt_verify(const char *token, size_t len,
							   const unsigned char *key, size_t keylen,
							   TimestampTz now);

/* Errors shared by the token modules. */
extern void pgbank_token_invalid(const char *message) pg_attribute_noreturn();
extern void pgbank_check_not_null(bool isnull, const char *field);
extern void pgbank_check_utf8(const char *s, size_t len, const char *what);

/* Key arguments: wipe a detoasted copy once it is no longer needed. */
extern void pgbank_wipe_key_copy(bytea *key, Datum original);

#endif							/* PGBANK_TOKENS_H */
