/*
 * outbox_wake.c
 *		Wake the waiting outbox runs when a message is queued.
 *
 * A run of the pg_cron job (pgbank.run_outbox, outbox.c) that finds no due
 * message waits on its latch instead of ending. So that it can be found, it
 * writes its latch, pid and database into one of OUTBOX_WAITER_SLOTS slots
 * in shared memory, under a spinlock, for as long as it waits.
 *
 * The trigger outbox_wake (AFTER INSERT ON pgbank.outbox FOR EACH
 * STATEMENT) only notes that this transaction queued messages; when it
 * commits (XACT_EVENT_COMMIT comes after the commit is visible to new
 * snapshots), the latch of every run waiting in this database is set. A
 * transaction that rolls back wakes nobody. A run resets its latch before it
 * looks for due messages, so a commit is either seen by that look or sets
 * the latch after it: no wake-up is lost in between.
 *
 * What no wake-up announces (a row made due by an UPDATE, COMMIT PREPARED
 * of a transaction that queued one, more waiting runs than slots) is found
 * by the run's next look, at most pgbank.outbox_poll_interval later.
 * Setting the latch of a run that has just ended is harmless: the latch is
 * its PGPROC's, and a spurious wake-up only makes a process look again.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "outbox_wake.h"
#include "pgbank.h"

PG_FUNCTION_INFO_V1(pgbank_outbox_wake_trigger);

/* pg_cron runs one job at a time; a few manual CALLs may wait too. */
#define OUTBOX_WAITER_SLOTS 16

typedef struct OutboxWaiter
{
	pid_t		pid;			/* 0: free */
	Oid			database;
	Latch	   *latch;
} OutboxWaiter;

typedef struct OutboxWakeState
{
	slock_t		mutex;
	OutboxWaiter waiters[OUTBOX_WAITER_SLOTS];
} OutboxWakeState;

static OutboxWakeState *wake_state = NULL;

/* This backend's slot while it waits, else -1. */
static int	my_slot = -1;
static bool exit_callback_set = false;

/* This transaction queued messages; set by the trigger, used at commit. */
static bool wake_at_commit = false;
static bool xact_callback_set = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
wake_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(OutboxWakeState)));
}

static void
wake_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	wake_state = ShmemInitStruct("pgbank outbox waiters",
								 sizeof(OutboxWakeState), &found);
	if (!found)
	{
		SpinLockInit(&wake_state->mutex);
		memset(wake_state->waiters, 0, sizeof(wake_state->waiters));
	}
	LWLockRelease(AddinShmemInitLock);
}

void
pgbank_outbox_wake_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = wake_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = wake_shmem_startup;
}

/* A run that ends by FATAL (terminated, shut down) frees its slot here. */
static void
waiter_exit(int code, Datum arg)
{
	pgbank_outbox_waiter_unregister();
}

/*
 * Take a slot for this backend's latch; false when every slot is taken (the
 * run then relies on pgbank.outbox_poll_interval alone).
 */
bool
pgbank_outbox_waiter_register(void)
{
	int			i;

	if (my_slot >= 0)
		return true;
	if (!exit_callback_set)
	{
		before_shmem_exit(waiter_exit, (Datum) 0);
		exit_callback_set = true;
	}
	SpinLockAcquire(&wake_state->mutex);
	for (i = 0; i < OUTBOX_WAITER_SLOTS; i++)
	{
		OutboxWaiter *w = &wake_state->waiters[i];

		if (w->pid == 0)
		{
			w->pid = MyProcPid;
			w->database = MyDatabaseId;
			w->latch = &MyProc->procLatch;
			my_slot = i;
			break;
		}
	}
	SpinLockRelease(&wake_state->mutex);
	return my_slot >= 0;
}

void
pgbank_outbox_waiter_unregister(void)
{
	if (my_slot < 0)
		return;
	SpinLockAcquire(&wake_state->mutex);
	wake_state->waiters[my_slot].pid = 0;
	wake_state->waiters[my_slot].latch = NULL;
	SpinLockRelease(&wake_state->mutex);
	my_slot = -1;
}

/*
 * Set the latch of every run waiting in this database. The latches are
 * copied under the spinlock and set after it, as SetLatch may signal.
 */
static void
wake_waiters(void)
{
	Latch	   *latches[OUTBOX_WAITER_SLOTS];
	int			n = 0;
	int			i;

	SpinLockAcquire(&wake_state->mutex);
	for (i = 0; i < OUTBOX_WAITER_SLOTS; i++)
	{
		OutboxWaiter *w = &wake_state->waiters[i];

		if (w->pid != 0 && w->database == MyDatabaseId && w->pid != MyProcPid)
			latches[n++] = w->latch;
	}
	SpinLockRelease(&wake_state->mutex);
	for (i = 0; i < n; i++)
		SetLatch(latches[i]);
}

/* Runs inside commit and abort, so it must not fail. */
static void
wake_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (wake_at_commit)
			{
				wake_at_commit = false;
				wake_waiters();
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * SQL function: pgbank.outbox_wake_trigger() RETURNS trigger
 *
 * AFTER INSERT ... FOR EACH STATEMENT on pgbank.outbox: the waiting runs
 * are woken when this transaction commits.
 */
Datum
pgbank_outbox_wake_trigger(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("pgbank.outbox_wake_trigger() must be called as a trigger")));
	if (!xact_callback_set)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		xact_callback_set = true;
	}
	wake_at_commit = true;
	PG_RETURN_POINTER(NULL);
}
