/*
 * session.c
 *		Settings of sessions and logins, the login throttle, and a
 *		constant-time comparison of secrets.
 *
 * The session and role logic itself is SQL (sql/src/30_identity.sql). What
 * lives here is what SQL cannot do well:
 *
 * - The GUCs pgbank.access_token_duration, pgbank.refresh_token_duration,
 *   pgbank.login_max_failures, pgbank.login_failure_window and
 *   pgbank.login_throttle_entries (a module's settings must be defined by
 *   its library, since _PG_init reserves the "pgbank" prefix).
 *
 * - The login throttle. A wrong password makes pgbank.login raise 28P01, and
 *   that ERROR rolls back everything the transaction wrote, so a table of
 *   failures written by login would never keep a row. PL/pgSQL cannot commit
 *   from a function called by SELECT, and an autonomous connection (dblink,
 *   a background worker) costs a connection per failed login and can be
 *   starved. Instead the counters live in shared memory: a hash table keyed
 *   by username, protected by one LWLock, which no rollback touches.
 *
 *   Each login of an existing user counts as a failure *before* the password
 *   is checked (pgbank.login_throttle_attempt); a correct password then
 *   clears the counter (pgbank.login_throttle_clear). Counting first means
 *   concurrent guesses cannot all slip past the limit while each is still
 *   hashing, and an attempt that dies half-way (cancelled, crashed) counts as
 *   a failure, which errs on the safe side. Once login_max_failures attempts
 *   have been counted in a window that began with the first of them, further
 *   attempts fail with PB015 until the window (login_failure_window) ends.
 *
 *   Only usernames that exist reach the throttle (login answers P0002 for
 *   the others first), so the table holds at most the users attacked within
 *   one window. When it is full, expired windows are dropped, then the
 *   entry whose window is oldest. The counters are per server and start
 *   empty after a restart: a throttle, not an audit log.
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "pgbank.h"

PG_FUNCTION_INFO_V1(pgbank_login_throttle_attempt);
PG_FUNCTION_INFO_V1(pgbank_login_throttle_clear);
PG_FUNCTION_INFO_V1(pgbank_login_throttle);
PG_FUNCTION_INFO_V1(pgbank_secret_equal);

/* Usernames are at most 100 characters (pgbank.users' check); room to spare. */
#define THROTTLE_KEY_LEN 128

typedef struct ThrottleEntry
{
	char		username[THROTTLE_KEY_LEN]; /* hash key, NUL-padded */
	TimestampTz window_start;	/* first counted attempt of this window */
	int32		attempts;		/* failed (or unfinished) logins in it */
} ThrottleEntry;

typedef struct ThrottleState
{
	LWLock	   *lock;
} ThrottleState;

/* Settings; durations are in seconds (GUC_UNIT_S). */
static int	access_token_duration = 15 * 60;
static int	refresh_token_duration = 24 * 60 * 60;
static int	login_max_failures = 5;
static int	login_failure_window = 15 * 60;
static int	login_throttle_entries = 10000;

static ThrottleState *throttle_state = NULL;
static HTAB *throttle_hash = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void throttle_shmem_request(void);
static void throttle_shmem_startup(void);

void
pgbank_session_init(void)
{
	DefineCustomIntVariable("pgbank.access_token_duration",
							"How long an access token issued by login or renewal is valid.",
							NULL,
							&access_token_duration,
							15 * 60, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.refresh_token_duration",
							"How long a session (its refresh token) is valid.",
							NULL,
							&refresh_token_duration,
							24 * 60 * 60, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.login_max_failures",
							"Failed logins of one user allowed within pgbank.login_failure_window.",
							"0 turns the login throttle off.",
							&login_max_failures,
							5, 0, 1000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.login_failure_window",
							"Window, from a user's first failed login, in which failures are counted.",
							NULL,
							&login_failure_window,
							15 * 60, 1, 7 * 24 * 60 * 60,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.login_throttle_entries",
							"Users whose failed logins the throttle can track at once.",
							NULL,
							&login_throttle_entries,
							10000, 100, 1000000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	/* Shared memory exists only when pgbank is in shared_preload_libraries. */
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = throttle_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = throttle_shmem_startup;
}

static void
throttle_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(MAXALIGN(sizeof(ThrottleState)),
									hash_estimate_size(login_throttle_entries,
													   sizeof(ThrottleEntry))));
	RequestNamedLWLockTranche("pgbank_login_throttle", 1);
}

static void
throttle_shmem_startup(void)
{
	HASHCTL		info;
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	throttle_state = ShmemInitStruct("pgbank login throttle",
									 sizeof(ThrottleState), &found);
	if (!found)
		throttle_state->lock = &(GetNamedLWLockTranche("pgbank_login_throttle"))->lock;
	info.keysize = THROTTLE_KEY_LEN;
	info.entrysize = sizeof(ThrottleEntry);
	throttle_hash = ShmemInitHash("pgbank login throttle hash",
								  login_throttle_entries, login_throttle_entries,
								  &info, HASH_ELEM | HASH_STRINGS);
	LWLockRelease(AddinShmemInitLock);
}

static void
throttle_require_shmem(void)
{
	if (throttle_state == NULL || throttle_hash == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the login throttle needs pgbank in shared_preload_libraries")));
}

/* The NUL-padded hash key of a username. */
static void
throttle_key(text *username, char *key)
{
	int			len = VARSIZE_ANY_EXHDR(username);

	if (len >= THROTTLE_KEY_LEN)
		pgbank_invalid_input("username", "too long");
	memset(key, 0, THROTTLE_KEY_LEN);
	memcpy(key, VARDATA_ANY(username), len);
}

static bool
window_over(ThrottleEntry *entry, TimestampTz now)
{
	return TimestampDifferenceExceeds(entry->window_start, now,
									  login_failure_window * 1000);
}

/*
 * Make room for one more entry: drop windows that are over, and if none is,
 * the entry whose window began first. Caller holds the lock exclusively.
 */
static void
throttle_make_room(TimestampTz now)
{
	HASH_SEQ_STATUS scan;
	ThrottleEntry *entry;
	ThrottleEntry *oldest = NULL;
	long		dropped = 0;

	if (hash_get_num_entries(throttle_hash) < login_throttle_entries)
		return;
	hash_seq_init(&scan, throttle_hash);
	while ((entry = hash_seq_search(&scan)) != NULL)
	{
		if (window_over(entry, now))
		{
			hash_search(throttle_hash, entry->username, HASH_REMOVE, NULL);
			dropped++;
		}
		else if (oldest == NULL || entry->window_start < oldest->window_start)
			oldest = entry;
	}
	if (dropped == 0 && oldest != NULL)
		hash_search(throttle_hash, oldest->username, HASH_REMOVE, NULL);
}

/*
 * SQL function: pgbank.login_throttle_attempt(username text) RETURNS void
 *
 * Count one login attempt of a user, or raise PB015 if the user already has
 * pgbank.login_max_failures counted in the current window.
 */
Datum
pgbank_login_throttle_attempt(PG_FUNCTION_ARGS)
{
	char		key[THROTTLE_KEY_LEN];
	TimestampTz now = GetCurrentTimestamp();
	ThrottleEntry *entry;
	bool		found;
	TimestampTz retry_at = 0;

	throttle_require_shmem();
	throttle_key(PG_GETARG_TEXT_PP(0), key);
	if (login_max_failures == 0)
		PG_RETURN_VOID();

	LWLockAcquire(throttle_state->lock, LW_EXCLUSIVE);
	entry = hash_search(throttle_hash, key, HASH_FIND, NULL);
	if (entry == NULL)
	{
		throttle_make_room(now);
		entry = hash_search(throttle_hash, key, HASH_ENTER_NULL, &found);
		if (entry == NULL)
		{
			LWLockRelease(throttle_state->lock);
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of shared memory for the login throttle")));
		}
		entry->window_start = now;
		entry->attempts = 0;
	}
	else if (window_over(entry, now))
	{
		entry->window_start = now;
		entry->attempts = 0;
	}

	if (entry->attempts >= login_max_failures)
		retry_at = TimestampTzPlusMilliseconds(entry->window_start,
											   (int64) login_failure_window * 1000);
	else
		entry->attempts++;
	LWLockRelease(throttle_state->lock);

	if (retry_at != 0)
	{
		long		secs;
		int			usecs;

		TimestampDifference(now, retry_at, &secs, &usecs);
		ereport(ERROR,
				(errcode(ERRCODE_PGBANK_LOGIN_THROTTLED),
				 errmsg("too many failed logins for user %s", key),
				 errdetail("Try again in %ld seconds.", secs + (usecs > 0 ? 1 : 0))));
	}
	PG_RETURN_VOID();
}

/*
 * SQL function: pgbank.login_throttle_clear(username text) RETURNS boolean
 *
 * Forget a user's counted attempts (after a correct password). Whether there
 * were any.
 */
Datum
pgbank_login_throttle_clear(PG_FUNCTION_ARGS)
{
	char		key[THROTTLE_KEY_LEN];
	bool		found;

	throttle_require_shmem();
	throttle_key(PG_GETARG_TEXT_PP(0), key);
	LWLockAcquire(throttle_state->lock, LW_EXCLUSIVE);
	hash_search(throttle_hash, key, HASH_REMOVE, &found);
	LWLockRelease(throttle_state->lock);

	PG_RETURN_BOOL(found);
}

/*
 * SQL function: pgbank.login_throttle() RETURNS TABLE (username text,
 * failures int, window_started_at timestamptz, throttled boolean)
 *
 * The users the throttle tracks in windows that are not over.
 */
Datum
pgbank_login_throttle(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	HASH_SEQ_STATUS scan;
	ThrottleEntry *entry;

	throttle_require_shmem();
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(throttle_state->lock, LW_SHARED);
	hash_seq_init(&scan, throttle_hash);
	while ((entry = hash_seq_search(&scan)) != NULL)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		if (window_over(entry, now))
			continue;
		values[0] = CStringGetTextDatum(entry->username);
		values[1] = Int32GetDatum(entry->attempts);
		values[2] = TimestampTzGetDatum(entry->window_start);
		values[3] = BoolGetDatum(login_max_failures > 0 &&
								 entry->attempts >= login_max_failures);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(throttle_state->lock);

	return (Datum) 0;
}

/*
 * SQL function: pgbank.secret_equal(a text, b text) RETURNS boolean
 *
 * Compare two secrets (refresh tokens) in time that depends only on their
 * length, which is not secret.
 */
Datum
pgbank_secret_equal(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	bool		equal;

	equal = VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		sodium_memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;

	PG_RETURN_BOOL(equal);
}
