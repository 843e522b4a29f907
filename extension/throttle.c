/*
 * throttle.c
 *		The login throttle: failed logins counted per user and per client
 *		address, in shared memory, and its settings.
 *
 * Why shared memory: a wrong password makes pgbank.login raise 28P01, and
 * that ERROR rolls back everything the transaction wrote, so a table of
 * failures written by login would never keep a row. PL/pgSQL cannot commit
 * from a function called by SELECT, and an autonomous connection (dblink, a
 * background worker) costs a connection per failed login and can be
 * starved. Instead the counters live in a hash table in shared memory,
 * protected by one LWLock, which no rollback touches. They are per server
 * and start empty after a restart: a throttle, not an audit log.
 *
 * The rules (docs/identity.md says them for users of pgbank):
 *
 * - Every login attempt is counted as a failure *before* the password is
 *   checked (pgbank.login_throttle_attempt): for the user, when the user
 *   exists, and for the client's address, when login knows it (also when
 *   the username does not exist, so that spraying passwords over many
 *   names, real or not, is limited too). Counting first means concurrent
 *   guesses cannot all slip past a limit while each is still hashing, and
 *   an attempt that dies half-way (cancelled, crashed) counts as a failure.
 *   Both limits are checked, and both counters raised, in one step under
 *   the lock: an attempt that either limit refuses (login_throttled) checks no
 *   password, so it counts for neither.
 *
 * - A correct password (pgbank.login_throttle_passed) clears the user's
 *   counter and takes back this attempt from the address's: the address
 *   keeps the failures it made, so nobody clears an address's failures by
 *   logging in to an account of their own.
 *
 * - A window begins with the first counted attempt; once a limit
 *   (pgbank.login_max_failures for a user, pgbank.login_address_max_failures
 *   for an address) is reached, attempts are refused until the window
 *   (pgbank.login_failure_window) ends. An IPv4 address counts alone, an
 *   IPv6 address by its /64 (one client usually has a whole /64 to pick
 *   addresses from), and an IPv4-mapped IPv6 address as the IPv4 address.
 *
 * - Users and addresses share pgbank.login_throttle_entries entries. When
 *   the table is full, entries whose window is over are dropped, then the
 *   entry whose window began first among those that are not throttled. A
 *   throttled entry is never dropped before its window ends: forgetting it
 *   would free its user or address for another round of guesses. When every
 *   entry is throttled, an attempt that needs a new entry fails closed: it
 *   is throttled too (login_throttled, "the login throttle is full", to try again when
 *   the first window ends); users and addresses already tracked go on as
 *   before. The server log says so (once a minute).
 */
#include "postgres.h"

#include <sys/socket.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inet.h"
#include "utils/timestamp.h"

#include "errors.h"
#include "pgbank.h"

PG_FUNCTION_INFO_V1(pgbank_login_throttle_attempt);
PG_FUNCTION_INFO_V1(pgbank_login_throttle_passed);
PG_FUNCTION_INFO_V1(pgbank_login_throttle_clear);
PG_FUNCTION_INFO_V1(pgbank_login_throttle_clear_address);
PG_FUNCTION_INFO_V1(pgbank_login_throttle);
PG_FUNCTION_INFO_V1(pgbank_login_throttle_addresses);

/* Usernames are at most 100 characters (pgbank.users' check); room to spare. */
#define THROTTLE_NAME_LEN 128

/* What an entry counts the attempts of. */
#define THROTTLE_USER 'u'
#define THROTTLE_ADDRESS 'a'

/* An IPv6 client is counted by its /64. */
#define IPV6_PREFIX_BYTES 8

typedef struct ThrottleKey
{
	char		kind;			/* THROTTLE_USER or THROTTLE_ADDRESS */
	/* a NUL-padded username, or the address family and network bytes */
	char		name[THROTTLE_NAME_LEN];
} ThrottleKey;

typedef struct ThrottleEntry
{
	ThrottleKey key;			/* hash key, zero-padded */
	TimestampTz window_start;	/* first counted attempt of this window */
	int32		attempts;		/* failed (or unfinished) logins in it */
} ThrottleEntry;

typedef struct ThrottleState
{
	LWLock	   *lock;
	TimestampTz full_logged_at; /* when a full table was last logged */
} ThrottleState;

/* What became of an attempt. */
typedef enum Attempt
{
	ATTEMPT_COUNTED,
	ATTEMPT_THROTTLED,			/* a limit is reached */
	ATTEMPT_TABLE_FULL,			/* every entry is throttled */
	ATTEMPT_NO_MEMORY
} Attempt;

/* Settings; durations are in seconds (GUC_UNIT_S). */
static int	login_max_failures = 5;
static int	login_address_max_failures = 50;
static int	login_failure_window = 15 * 60;
static int	login_throttle_entries = 10000;

static ThrottleState *throttle_state = NULL;
static HTAB *throttle_hash = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void throttle_shmem_request(void);
static void throttle_shmem_startup(void);

void
pgbank_throttle_init(void)
{
	DefineCustomIntVariable("pgbank.login_max_failures",
							"Failed logins of one user allowed within pgbank.login_failure_window.",
							"0 turns the limit per user off.",
							&login_max_failures,
							5, 0, 1000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.login_address_max_failures",
							"Failed logins from one client address (an IPv6 /64) allowed within pgbank.login_failure_window.",
							"Logins of usernames that do not exist count too. 0 turns the limit per address off.",
							&login_address_max_failures,
							50, 0, 100000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.login_failure_window",
							"Window, from the first failed login of a user or address, in which failures are counted.",
							NULL,
							&login_failure_window,
							15 * 60, 1, 7 * 24 * 60 * 60,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.login_throttle_entries",
							"Users and client addresses whose failed logins the throttle can track at once.",
							NULL,
							&login_throttle_entries,
							10000, 100, 1000000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

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
	{
		throttle_state->lock = &(GetNamedLWLockTranche("pgbank_login_throttle"))->lock;
		throttle_state->full_logged_at = 0;
	}
	info.keysize = sizeof(ThrottleKey);
	info.entrysize = sizeof(ThrottleEntry);
	throttle_hash = ShmemInitHash("pgbank login throttle hash",
								  login_throttle_entries, login_throttle_entries,
								  &info, HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);
}

/* _PG_init refuses to load pgbank other than preloaded: this cannot fail. */
static void
throttle_require_shmem(void)
{
	if (throttle_state == NULL || throttle_hash == NULL)
		elog(ERROR, "pgbank: the login throttle's shared memory is not set up");
}

/* ----- keys ----- */

static void
user_key(text *username, ThrottleKey *key)
{
	int			len = VARSIZE_ANY_EXHDR(username);

	if (len >= THROTTLE_NAME_LEN)
		pgbank_invalid_input("username", "too long");
	memset(key, 0, sizeof(*key));
	key->kind = THROTTLE_USER;
	memcpy(key->name, VARDATA_ANY(username), len);
}

static bool
is_ipv4_mapped(const unsigned char *a)
{
	static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(a, prefix, sizeof(prefix)) == 0;
}

/* The network a client address is counted by (its netmask is ignored). */
static void
address_key(inet *ip, ThrottleKey *key)
{
	const unsigned char *a = ip_addr(ip);

	memset(key, 0, sizeof(*key));
	key->kind = THROTTLE_ADDRESS;
	if (ip_family(ip) == PGSQL_AF_INET)
	{
		key->name[0] = PGSQL_AF_INET;
		memcpy(key->name + 1, a, 4);
	}
	else if (is_ipv4_mapped(a))
	{
		key->name[0] = PGSQL_AF_INET;
		memcpy(key->name + 1, a + 12, 4);
	}
	else
	{
		key->name[0] = PGSQL_AF_INET6;
		memcpy(key->name + 1, a, IPV6_PREFIX_BYTES);
	}
}

/* An address key as inet: an IPv4 address, or an IPv6 /64. */
static Datum
address_datum(const ThrottleKey *key)
{
	inet	   *ip = palloc0(sizeof(inet));

	ip_family(ip) = key->name[0];
	if (key->name[0] == PGSQL_AF_INET)
	{
		ip_bits(ip) = 32;
		memcpy(ip_addr(ip), key->name + 1, 4);
	}
	else
	{
		ip_bits(ip) = IPV6_PREFIX_BYTES * 8;
		memcpy(ip_addr(ip), key->name + 1, IPV6_PREFIX_BYTES);
	}
	SET_INET_VARSIZE(ip);
	return InetPGetDatum(ip);
}

/* ----- entries; the caller holds the lock ----- */

static int
limit_of(const ThrottleEntry *entry)
{
	return entry->key.kind == THROTTLE_USER ?
		login_max_failures : login_address_max_failures;
}

static TimestampTz
window_end(const ThrottleEntry *entry)
{
	return TimestampTzPlusMilliseconds(entry->window_start,
									   (int64) login_failure_window * 1000);
}

static bool
window_over(const ThrottleEntry *entry, TimestampTz now)
{
	return TimestampDifferenceExceeds(entry->window_start, now,
									  login_failure_window * 1000);
}

/* At its limit in a window that is not over (the caller checks that). */
static bool
at_limit(const ThrottleEntry *entry)
{
	return limit_of(entry) > 0 && entry->attempts >= limit_of(entry);
}

static bool
is_one_of(const ThrottleEntry *entry, const ThrottleKey *keys, int nkeys)
{
	int			i;

	for (i = 0; i < nkeys; i++)
		if (memcmp(&entry->key, &keys[i], sizeof(ThrottleKey)) == 0)
			return true;
	return false;
}

/* Drop every entry whose window is over, except keys'; how many. */
static int
drop_windows_over(const ThrottleKey *keys, int nkeys, TimestampTz now)
{
	HASH_SEQ_STATUS scan;
	ThrottleEntry *entry;
	int			dropped = 0;

	hash_seq_init(&scan, throttle_hash);
	while ((entry = hash_seq_search(&scan)) != NULL)
	{
		if (!is_one_of(entry, keys, nkeys) && window_over(entry, now))
		{
			hash_search(throttle_hash, &entry->key, HASH_REMOVE, NULL);
			dropped++;
		}
	}
	return dropped;
}

/*
 * Drop the entry, other than keys', whose window began first among those
 * not throttled. When all are throttled, drop none, set *retry_at to the end
 * of the first window to end, and return false.
 */
static bool
drop_oldest_unthrottled(const ThrottleKey *keys, int nkeys,
						TimestampTz now, TimestampTz *retry_at)
{
	HASH_SEQ_STATUS scan;
	ThrottleEntry *entry;
	ThrottleEntry *oldest = NULL;

	*retry_at = TimestampTzPlusMilliseconds(now, (int64) login_failure_window * 1000);
	hash_seq_init(&scan, throttle_hash);
	while ((entry = hash_seq_search(&scan)) != NULL)
	{
		if (is_one_of(entry, keys, nkeys))
			continue;
		if (at_limit(entry))
			*retry_at = Min(*retry_at, window_end(entry));
		else if (oldest == NULL || entry->window_start < oldest->window_start)
			oldest = entry;
	}
	if (oldest == NULL)
		return false;
	hash_search(throttle_hash, &oldest->key, HASH_REMOVE, NULL);
	return true;
}

/*
 * Make room for needed more entries without dropping keys'. False when the
 * table is full of throttled entries (*retry_at: when one's window ends).
 */
static bool
make_room(const ThrottleKey *keys, int nkeys, int needed, TimestampTz now,
		  TimestampTz *retry_at)
{
	long		room = login_throttle_entries - hash_get_num_entries(throttle_hash);

	if (room >= needed)
		return true;
	room += drop_windows_over(keys, nkeys, now);
	while (room < needed)
	{
		if (!drop_oldest_unthrottled(keys, nkeys, now, retry_at))
			return false;
		room++;
	}
	return true;
}

static void
restart_window(ThrottleEntry *entry, TimestampTz now)
{
	entry->window_start = now;
	entry->attempts = 0;
}

/*
 * Count one attempt for every key, or for none when one of them is at its
 * limit (*refused is that key, *retry_at when its window ends) or when
 * there is no room for a new entry.
 */
static Attempt
count_attempt(const ThrottleKey *keys, int nkeys, TimestampTz now,
			  const ThrottleKey **refused, TimestampTz *retry_at)
{
	ThrottleEntry *entries[2];
	int			missing = 0;
	int			i;

	Assert(nkeys <= lengthof(entries));
	for (i = 0; i < nkeys; i++)
	{
		ThrottleEntry *entry = hash_search(throttle_hash, &keys[i], HASH_FIND, NULL);

		if (entry == NULL)
			missing++;
		else if (window_over(entry, now))
			restart_window(entry, now);
		else if (at_limit(entry))
		{
			*refused = &keys[i];
			*retry_at = window_end(entry);
			return ATTEMPT_THROTTLED;
		}
	}
	if (missing > 0 && !make_room(keys, nkeys, missing, now, retry_at))
		return ATTEMPT_TABLE_FULL;
	for (i = 0; i < nkeys; i++)
	{
		bool		found;

		entries[i] = hash_search(throttle_hash, &keys[i], HASH_ENTER_NULL, &found);
		if (entries[i] == NULL)
			return ATTEMPT_NO_MEMORY;
		if (!found)
			restart_window(entries[i], now);
	}
	for (i = 0; i < nkeys; i++)
		entries[i]->attempts++;
	return ATTEMPT_COUNTED;
}

/* Whole seconds from now until then, rounded up. */
static long
seconds_until(TimestampTz now, TimestampTz then)
{
	long		secs;
	int			usecs;

	TimestampDifference(now, then, &secs, &usecs);
	return secs + (usecs > 0 ? 1 : 0);
}

/* Raise the error of an attempt that was not counted. */
static void
refuse(Attempt attempt, const ThrottleKey *refused, TimestampTz now,
	   TimestampTz retry_at, bool log_full)
{
	if (attempt == ATTEMPT_THROTTLED && refused->kind == THROTTLE_USER)
		ereport(ERROR,
				(errcode(ERRCODE_PGBANK_LOGIN_THROTTLED),
				 errmsg("too many failed logins for user %s", refused->name),
				 errdetail("Try again in %ld seconds.", seconds_until(now, retry_at))));
	if (attempt == ATTEMPT_THROTTLED)
		ereport(ERROR,
				(errcode(ERRCODE_PGBANK_LOGIN_THROTTLED),
				 errmsg("too many failed logins from address %s",
						DatumGetCString(DirectFunctionCall1(inet_out,
															address_datum(refused)))),
				 errdetail("Try again in %ld seconds.", seconds_until(now, retry_at))));
	if (attempt == ATTEMPT_TABLE_FULL)
	{
		if (log_full)
			ereport(LOG,
					(errmsg("pgbank: all %d entries of the login throttle are throttled; logins of other users and addresses are refused",
							login_throttle_entries),
					 errhint("Raise pgbank.login_throttle_entries (it takes a restart).")));
		ereport(ERROR,
				(errcode(ERRCODE_PGBANK_LOGIN_THROTTLED),
				 errmsg("the login throttle is full"),
				 errdetail("Every user and address it tracks is throttled, so this login cannot be counted. Try again in %ld seconds.",
						   seconds_until(now, retry_at))));
	}
	if (attempt == ATTEMPT_NO_MEMORY)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of shared memory for the login throttle")));
}

/*
 * SQL function: pgbank.login_throttle_attempt(username text, client_ip inet)
 * RETURNS void
 *
 * Count one login attempt of a user (NULL: a username that does not exist)
 * from a client address (NULL: unknown), or raise login_throttled if either has
 * reached its limit in its current window, or if the attempt needs a new
 * entry and every entry is throttled. 0.1.0's
 * login_throttle_attempt(username text) calls this with the user only.
 */
Datum
pgbank_login_throttle_attempt(PG_FUNCTION_ARGS)
{
	ThrottleKey keys[2];
	int			nkeys = 0;
	TimestampTz now = GetCurrentTimestamp();
	const ThrottleKey *refused = NULL;
	TimestampTz retry_at = 0;
	Attempt		attempt;
	bool		log_full = false;

	throttle_require_shmem();
	if (!PG_ARGISNULL(0))
	{
		user_key(PG_GETARG_TEXT_PP(0), &keys[nkeys]);
		if (login_max_failures > 0)
			nkeys++;
	}
	if (PG_NARGS() > 1 && !PG_ARGISNULL(1))
	{
		address_key(PG_GETARG_INET_PP(1), &keys[nkeys]);
		if (login_address_max_failures > 0)
			nkeys++;
	}
	if (nkeys == 0)
		PG_RETURN_VOID();

	LWLockAcquire(throttle_state->lock, LW_EXCLUSIVE);
	attempt = count_attempt(keys, nkeys, now, &refused, &retry_at);
	if (attempt == ATTEMPT_TABLE_FULL &&
		TimestampDifferenceExceeds(throttle_state->full_logged_at, now, 60 * 1000))
	{
		throttle_state->full_logged_at = now;
		log_full = true;
	}
	LWLockRelease(throttle_state->lock);

	if (attempt != ATTEMPT_COUNTED)
		refuse(attempt, refused, now, retry_at, log_full);
	PG_RETURN_VOID();
}

/*
 * SQL function: pgbank.login_throttle_passed(username text, client_ip inet)
 * RETURNS void
 *
 * A login with the right password: forget the user's counted attempts, and
 * take this attempt back from the address (its other failures stay).
 */
Datum
pgbank_login_throttle_passed(PG_FUNCTION_ARGS)
{
	ThrottleKey user;
	ThrottleKey address;
	ThrottleEntry *entry;
	TimestampTz now = GetCurrentTimestamp();

	throttle_require_shmem();
	if (!PG_ARGISNULL(0))
		user_key(PG_GETARG_TEXT_PP(0), &user);
	if (!PG_ARGISNULL(1))
		address_key(PG_GETARG_INET_PP(1), &address);

	LWLockAcquire(throttle_state->lock, LW_EXCLUSIVE);
	if (!PG_ARGISNULL(0))
		hash_search(throttle_hash, &user, HASH_REMOVE, NULL);
	entry = PG_ARGISNULL(1) ? NULL :
		hash_search(throttle_hash, &address, HASH_FIND, NULL);
	if (entry != NULL && !window_over(entry, now))
	{
		entry->attempts--;
		if (entry->attempts <= 0)
			hash_search(throttle_hash, &address, HASH_REMOVE, NULL);
	}
	LWLockRelease(throttle_state->lock);

	PG_RETURN_VOID();
}

/* Forget a key's counted attempts; whether there were any. */
static bool
clear_key(const ThrottleKey *key)
{
	bool		found;

	throttle_require_shmem();
	LWLockAcquire(throttle_state->lock, LW_EXCLUSIVE);
	hash_search(throttle_hash, key, HASH_REMOVE, &found);
	LWLockRelease(throttle_state->lock);
	return found;
}

/*
 * SQL function: pgbank.login_throttle_clear(username text) RETURNS boolean
 *
 * Forget a user's counted attempts (by hand). Whether there were any.
 */
Datum
pgbank_login_throttle_clear(PG_FUNCTION_ARGS)
{
	ThrottleKey key;

	user_key(PG_GETARG_TEXT_PP(0), &key);
	PG_RETURN_BOOL(clear_key(&key));
}

/*
 * SQL function: pgbank.login_throttle_clear_address(client_ip inet)
 * RETURNS boolean
 *
 * Forget the counted attempts of a client address (its /64 for IPv6).
 * Whether there were any.
 */
Datum
pgbank_login_throttle_clear_address(PG_FUNCTION_ARGS)
{
	ThrottleKey key;

	address_key(PG_GETARG_INET_PP(0), &key);
	PG_RETURN_BOOL(clear_key(&key));
}

/*
 * The entries of one kind in windows that are not over, as rows of (the
 * user or address, failures, window_started_at, throttled).
 */
static void
list_entries(FunctionCallInfo fcinfo, char kind)
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

		if (entry->key.kind != kind || window_over(entry, now))
			continue;
		values[0] = kind == THROTTLE_USER ? CStringGetTextDatum(entry->key.name) :
			address_datum(&entry->key);
		values[1] = Int32GetDatum(entry->attempts);
		values[2] = TimestampTzGetDatum(entry->window_start);
		values[3] = BoolGetDatum(at_limit(entry));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(throttle_state->lock);
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
	list_entries(fcinfo, THROTTLE_USER);
	return (Datum) 0;
}

/*
 * SQL function: pgbank.login_throttle_addresses() RETURNS TABLE (client_ip
 * inet, failures int, window_started_at timestamptz, throttled boolean)
 *
 * The client addresses (IPv6: /64 networks) the throttle tracks in windows
 * that are not over.
 */
Datum
pgbank_login_throttle_addresses(PG_FUNCTION_ARGS)
{
	list_entries(fcinfo, THROTTLE_ADDRESS);
	return (Datum) 0;
}
