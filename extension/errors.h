/*
 * errors.h
 *		pgbank's own SQLSTATEs and the error helpers every module shares.
 */
#ifndef PGBANK_ERRORS_H
#define PGBANK_ERRORS_H

#include "postgres.h"

/*
 * pgbank's own SQLSTATEs, ERRCODE_PGBANK_<NAME>: generated from the one
 * table of error codes, sql/errcodes.txt, into build/errcodes.h
 * (docs/errors.md). Standard codes are PostgreSQL's own.
 */
#include "errcodes.h"

/*
 * 22023 "invalid <field>: <message>" naming the field: the one error of bad
 * input, raised by the SQL function pgbank.invalid_input(field, message) too
 * (request.c).
 */
extern void pgbank_invalid_input(const char *field,
								 const char *message) pg_attribute_noreturn();

/* 22004 "<field> must not be null" when isnull. */
extern void pgbank_check_not_null(bool isnull, const char *field);

/* 28000 with the message: every failure of a token check. */
extern void pgbank_token_invalid(const char *message) pg_attribute_noreturn();

/* 28000 unless a decoded token part is text (no NUL, valid encoding). */
extern void pgbank_check_utf8(const char *s, size_t len, const char *what);

#endif							/* PGBANK_ERRORS_H */
