/*
 * secret.h
 *		Handling of secrets shared by the modules.
 */
#ifndef PGBANK_SECRET_H
#define PGBANK_SECRET_H

#include "postgres.h"

/* Key arguments: wipe a detoasted copy once it is no longer needed. */
extern void pgbank_wipe_key_copy(bytea *key, Datum original);

#endif							/* PGBANK_SECRET_H */
