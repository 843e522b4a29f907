/*
 * jwt.h
 *		JWT HS256 (RFC 7519, 7515), for the token Maker (token.c).
 *
 * Verifying raises ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION (28000) on
 * any failure; it never returns a half-checked result.
 */
#ifndef PGBANK_JWT_H
#define PGBANK_JWT_H

#include "postgres.h"

#include "datatype/timestamp.h"

extern text *pgbank_jwt_sign(const char *claims, size_t len,
							 const unsigned char *key, size_t keylen);
/* Checks the signature, exp and nbf; returns the claims. */
extern text *pgbank_jwt_verify(const char *token, size_t len,
							   const unsigned char *key, size_t keylen,
							   TimestampTz now);

/* A timestamp as a NumericDate: whole seconds since 1970, rounded down. */
extern int64 pgbank_jwt_numeric_date(TimestampTz ts);

#endif							/* PGBANK_JWT_H */
