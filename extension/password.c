/*
 * password.c
 *		Argon2id password hashing with libsodium's crypto_pwhash_str, and
 *		bcrypt (libxcrypt's crypt_rn) for hashes the managed build made.
 *
 * The cost is configuration: pgbank.argon2_opslimit and
 * pgbank.argon2_memlimit (superuser only). Hashes carry their own
 * parameters, so raising the cost later does not invalidate old hashes.
 *
 * Both builds verify both formats where they can (docs/managed.md): this
 * one verifies Argon2id and bcrypt ($2a$, $2b$, $2y$: the managed build's
 * pgcrypto makes $2a$); pgbank.password_hash chooses what new hashes are
 * (argon2id, or bcrypt at pgbank.bcrypt_cost, to move a database to the
 * managed build, which cannot verify Argon2id), and a login rehashes a
 * password whose hash is not of that kind and cost
 * (pgbank.password_needs_rehash).
 *
 * A login of a user that does not exist verifies the password against a
 * dummy hash made at the current cost (pgbank.dummy_password_check), so
 * that it takes as long as a wrong password and its timing does not tell
 * whether the user exists. The dummy is made once per backend, and again
 * when the cost settings change.
 */
#include "postgres.h"

#include <crypt.h>
#include <sodium.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "pgbank.h"

PG_FUNCTION_INFO_V1(pgbank_hash_password);
PG_FUNCTION_INFO_V1(pgbank_password_matches);
PG_FUNCTION_INFO_V1(pgbank_dummy_password_check);
PG_FUNCTION_INFO_V1(pgbank_password_needs_rehash);

typedef enum PasswordHash
{
	PASSWORD_HASH_ARGON2ID,
	PASSWORD_HASH_BCRYPT
} PasswordHash;

static const struct config_enum_entry password_hash_options[] = {
	{"argon2id", PASSWORD_HASH_ARGON2ID, false},
	{"bcrypt", PASSWORD_HASH_BCRYPT, false},
	{NULL, 0, false}
};

static int	password_hash = PASSWORD_HASH_ARGON2ID;
static int	bcrypt_cost = 10;

/* A bcrypt hash: $2a$, $2b$ or $2y$, two cost digits, 53 characters. */
#define BCRYPT_HASH_LEN 60

static int	argon2_opslimit = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
static int	argon2_memlimit_kb = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE / 1024;

/* The dummy hash, and the cost it was made with (0: not made yet). */
static char dummy_hash[crypto_pwhash_STRBYTES];
static int	dummy_opslimit = 0;
static int	dummy_memlimit_kb = 0;

void
pgbank_password_init(void)
{
	DefineCustomIntVariable("pgbank.argon2_opslimit",
							"Argon2id time cost (passes) for new password hashes.",
							NULL,
							&argon2_opslimit,
							crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
							crypto_pwhash_argon2id_OPSLIMIT_MIN,
							32,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.argon2_memlimit",
							"Argon2id memory cost for new password hashes.",
							NULL,
							&argon2_memlimit_kb,
							crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE / 1024,
							crypto_pwhash_argon2id_MEMLIMIT_MIN / 1024,
							1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("pgbank.password_hash",
							 "Kind of new password hashes: argon2id, or bcrypt (what the managed build can verify).",
							 NULL,
							 &password_hash,
							 PASSWORD_HASH_ARGON2ID,
							 password_hash_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.bcrypt_cost",
							"bcrypt cost (log2 of the rounds) of new bcrypt password hashes.",
							NULL,
							&bcrypt_cost,
							10, 4, 31,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
}

static bool
is_bcrypt(const char *hash)
{
	return strlen(hash) == BCRYPT_HASH_LEN && hash[0] == '$' && hash[1] == '2' &&
		(hash[2] == 'a' || hash[2] == 'b' || hash[2] == 'y') && hash[3] == '$';
}

/* crypt_rn of clear with a bcrypt hash or setting, into out; false on failure. */
static bool
bcrypt_with(const char *clear, const char *setting, char *out)
{
	struct crypt_data *data = palloc0(sizeof(struct crypt_data));
	char	   *h = crypt_rn(clear, setting, data, sizeof(struct crypt_data));
	bool		ok = h != NULL && h[0] != '*' && strlen(h) == BCRYPT_HASH_LEN;

	if (ok)
		memcpy(out, h, BCRYPT_HASH_LEN + 1);
	sodium_memzero(data, sizeof(struct crypt_data));
	pfree(data);
	return ok;
}

/* A new bcrypt hash of clear at pgbank.bcrypt_cost; false on failure. */
static bool
bcrypt_new(const char *clear, char *out)
{
	char		setting[CRYPT_GENSALT_OUTPUT_SIZE];

	if (crypt_gensalt_rn("$2a$", bcrypt_cost, NULL, 0, setting, sizeof(setting)) == NULL)
		return false;
	return bcrypt_with(clear, setting, out);
}

/* Whether clear matches a bcrypt hash, in constant time. */
static bool
bcrypt_matches(const char *hash, const char *clear)
{
	char		h[BCRYPT_HASH_LEN + 1];
	bool		matches;

	matches = bcrypt_with(clear, hash, h) &&
		sodium_memcmp(h, hash, BCRYPT_HASH_LEN) == 0;
	sodium_memzero(h, sizeof(h));
	return matches;
}

/*
 * Copy a text argument into a NUL-terminated buffer that the caller wipes.
 */
static char *
secret_cstring(text *t, size_t *len)
{
	char	   *s;

	*len = VARSIZE_ANY_EXHDR(t);
	s = palloc(*len + 1);
	memcpy(s, VARDATA_ANY(t), *len);
	s[*len] = '\0';
	return s;
}

/* Argon2id hash of clear at the current cost, into hash; false on failure. */
static bool
hash_at_current_cost(char *hash, const char *clear, size_t len)
{
	return crypto_pwhash_str_alg(hash, clear, len,
								 (unsigned long long) argon2_opslimit,
								 (size_t) argon2_memlimit_kb * 1024,
								 crypto_pwhash_ALG_ARGON2ID13) == 0;
}

static void hash_failed(void) pg_attribute_noreturn();

static void
hash_failed(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("could not hash password"),
			 password_hash == PASSWORD_HASH_BCRYPT ? 0 :
			 errdetail("Argon2id needs %d kB of memory.", argon2_memlimit_kb)));
}

/*
 * SQL function: pgbank.hash_password(password text) RETURNS text
 */
Datum
pgbank_hash_password(PG_FUNCTION_ARGS)
{
	text	   *password = PG_GETARG_TEXT_PP(0);
	char		hash[crypto_pwhash_STRBYTES];
	char	   *clear;
	size_t		len;
	bool		hashed;

	clear = secret_cstring(password, &len);
	if (password_hash == PASSWORD_HASH_BCRYPT)
		hashed = bcrypt_new(clear, hash);
	else
		hashed = hash_at_current_cost(hash, clear, len);
	sodium_memzero(clear, len);
	pfree(clear);
	if (!hashed)
		hash_failed();

	PG_RETURN_TEXT_P(cstring_to_text(hash));
}

/*
 * SQL function: pgbank.password_matches(hashed_password text, password text)
 * RETURNS boolean
 *
 * Argon2id or bcrypt; a malformed hash never matches.
 */
Datum
pgbank_password_matches(PG_FUNCTION_ARGS)
{
	char	   *hash = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *clear;
	size_t		len;
	bool		matches;

	clear = secret_cstring(PG_GETARG_TEXT_PP(1), &len);
	if (is_bcrypt(hash))
		matches = bcrypt_matches(hash, clear);
	else
		matches = crypto_pwhash_str_verify(hash, clear, len) == 0;
	sodium_memzero(clear, len);
	pfree(clear);

	PG_RETURN_BOOL(matches);
}

/*
 * The dummy hash at the current cost: a hash of random bytes nobody knows,
 * so that no password matches it.
 */
static const char *
dummy_hash_at_current_cost(void)
{
	unsigned char unknown[32];
	bool		hashed;

	if (dummy_opslimit == argon2_opslimit && dummy_memlimit_kb == argon2_memlimit_kb)
		return dummy_hash;
	randombytes_buf(unknown, sizeof(unknown));
	hashed = hash_at_current_cost(dummy_hash, (const char *) unknown, sizeof(unknown));
	sodium_memzero(unknown, sizeof(unknown));
	if (!hashed)
		hash_failed();
	dummy_opslimit = argon2_opslimit;
	dummy_memlimit_kb = argon2_memlimit_kb;
	return dummy_hash;
}

/*
 * SQL function: pgbank.dummy_password_check(password text) RETURNS void
 *
 * Verify a password as pgbank.password_matches would, against the dummy
 * hash: what login does for a user that does not exist.
 */
Datum
pgbank_dummy_password_check(PG_FUNCTION_ARGS)
{
	const char *hash;
	char	   *clear;
	size_t		len;
	char		h[BCRYPT_HASH_LEN + 1];

	clear = secret_cstring(PG_GETARG_TEXT_PP(0), &len);
	if (password_hash == PASSWORD_HASH_BCRYPT)
	{
		/* one bcrypt at the current cost, as verifying a current hash */
		if (!bcrypt_new(clear, h))
			hash_failed();
		sodium_memzero(h, sizeof(h));
	}
	else
	{
		hash = dummy_hash_at_current_cost();
		if (crypto_pwhash_str_verify(hash, clear, len) == 0)
			elog(ERROR, "pgbank: a password matched the dummy hash");
	}
	sodium_memzero(clear, len);
	pfree(clear);

	PG_RETURN_VOID();
}

/*
 * SQL function: pgbank.password_needs_rehash(hashed_password text)
 * RETURNS boolean
 *
 * Whether a hash is not what hash_password makes now (its kind,
 * pgbank.password_hash, and its cost): login then stores a new hash of the
 * password it has just checked. A malformed hash needs none (it never
 * matches anyway).
 */
Datum
pgbank_password_needs_rehash(PG_FUNCTION_ARGS)
{
	char	   *hash = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		needs;

	if (is_bcrypt(hash))
		needs = password_hash != PASSWORD_HASH_BCRYPT ||
			atoi(hash + 4) != bcrypt_cost;
	else if (strncmp(hash, "$argon2id$", 10) == 0)
		needs = password_hash != PASSWORD_HASH_ARGON2ID ||
			crypto_pwhash_str_needs_rehash(hash, (unsigned long long) argon2_opslimit,
										   (size_t) argon2_memlimit_kb * 1024) != 0;
	else
		needs = false;
	PG_RETURN_BOOL(needs);
}
