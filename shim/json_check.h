/*
 * json_check.h
 *		Checks of client text before it reaches SQL: UTF-8, and JSON.
 *
 * The fronts (HTTP now; gRPC may too) pass a client's text to the
 * extension's functions as parameters. Text that is not valid UTF-8, JSON
 * that PostgreSQL would refuse, a \u0000 escape (which no text or jsonb
 * value can hold) and JSON nested deep enough to reach the server's stack
 * limit are the client's fault; these checks find them first, so that the
 * client gets a 400 naming the problem and not a 500 from the server.
 *
 * Self-contained (no other shim header) so that every front can link it.
 */
#ifndef PGBANK_JSON_CHECK_H
#define PGBANK_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* Deepest nesting of arrays and objects a request body may have. */
#define JSON_MAX_DEPTH 64

typedef enum JsonCheckResult
{
	JSON_CHECK_OK,
	JSON_CHECK_BAD_UTF8,		/* not UTF-8: SQLSTATE 22021 */
	JSON_CHECK_SYNTAX,			/* not JSON: 22P02 */
	JSON_CHECK_NUL_ESCAPE,		/* \u0000 in a string: 22P05 */
	JSON_CHECK_TOO_DEEP			/* nested past JSON_MAX_DEPTH: 22023 */
} JsonCheckResult;

/*
 * Is s[0..len) valid UTF-8 (shortest forms, no surrogates, at most
 * U+10FFFF) without a NUL byte? On false, *bad_offset is the offset of
 * the first bad byte (when bad_offset is not NULL).
 */
extern bool utf8_valid(const char *s, size_t len, size_t *bad_offset);

/*
 * Check one JSON text (RFC 8259, as PostgreSQL's json input reads it:
 * any value at the top, surrogate escapes in pairs) of len bytes. On an
 * error, *offset is the offset of the byte where it was found.
 */
extern JsonCheckResult json_check(const char *text, size_t len, size_t *offset);

/* The SQLSTATE a result is reported with, and a lower-case message. */
extern const char *json_check_sqlstate(JsonCheckResult r);
extern const char *json_check_message(JsonCheckResult r);

#endif							/* PGBANK_JSON_CHECK_H */
