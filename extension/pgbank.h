/*
 * pgbank.h
 *		The modules' initialisation functions, which _PG_init (pgbank.c)
 *		calls: each defines its module's settings and hooks.
 */
#ifndef PGBANK_H
#define PGBANK_H

extern void pgbank_password_init(void);
extern void pgbank_ledger_init(void);
extern void pgbank_token_init(void);
extern void pgbank_throttle_init(void);
extern void pgbank_email_init(void);
extern void pgbank_outbox_init(void);
extern void pgbank_outbox_wake_init(void);
extern void pgbank_games_init(void);

#endif							/* PGBANK_H */
