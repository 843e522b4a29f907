/*
 * paseto.h
 *		PASETO v4.local, for the token Maker (token.c).
 *
 * Decrypting raises ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION (28000) on
 * any failure; it never returns a half-checked result.
 */
#ifndef PGBANK_PASETO_H
#define PGBANK_PASETO_H

#include "postgres.h"

/* Symmetric key length of v4.local, and so of pgbank.token_key. */
#define PGBANK_TOKEN_KEY_BYTES 32

/* nonce NULL means a fresh random one. */
extern text *pgbank_paseto_local_encrypt(const char *m, size_t mlen,
										 const unsigned char *key,
										 const char *f, size_t flen,
										 const char *i, size_t ilen,
										 const unsigned char *nonce);
extern text *pgbank_paseto_local_decrypt(const char *token, size_t len,
										 const unsigned char *key,
										 const char *i, size_t ilen);

#endif							/* PGBANK_PASETO_H */
