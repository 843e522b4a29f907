/*
 * base64url.h
 *		base64url without padding (RFC 4648 section 5), decoded strictly:
 *		the coding PASETO and JWT share.
 */
#ifndef PGBANK_BASE64URL_H
#define PGBANK_BASE64URL_H

#include "postgres.h"

/* palloc'd and NUL-terminated */
extern char *pgbank_b64url_encode(const unsigned char *bin, size_t len);

/* palloc'd; NULL when b64 is not the one encoding of any byte string */
extern unsigned char *pgbank_b64url_decode(const char *b64, size_t len,
										   size_t *binlen);

#endif							/* PGBANK_BASE64URL_H */
