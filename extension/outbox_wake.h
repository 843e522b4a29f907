/*
 * outbox_wake.h
 *		Waiting outbox runs and the wake-up a queued message gives them
 *		(outbox_wake.c); outbox.c waits, the trigger on pgbank.outbox wakes.
 */
#ifndef OUTBOX_WAKE_H
#define OUTBOX_WAKE_H

extern bool pgbank_outbox_waiter_register(void);
extern void pgbank_outbox_waiter_unregister(void);

#endif							/* OUTBOX_WAKE_H */
