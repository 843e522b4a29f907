-- After ALTER EXTENSION pgbank UPDATE: what data-0.1.0.sql made still works
-- with the new version. Each check raises an error when it fails.
\set ON_ERROR_STOP on
SELECT value AS alice_usd FROM public.fixture WHERE name = 'alice_usd' \gset
SELECT value AS bob_usd FROM public.fixture WHERE name = 'bob_usd' \gset
SELECT value AS alice_refresh FROM public.fixture WHERE name = 'alice_refresh' \gset
SELECT value AS alice_access FROM public.fixture WHERE name = 'alice_access' \gset
SELECT value AS bob_refresh_out FROM public.fixture WHERE name = 'bob_refresh_out' \gset
SELECT value AS apex_id FROM public.fixture WHERE name = 'apex_id' \gset

CREATE FUNCTION pg_temp.expect(ok boolean, what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF ok IS NOT TRUE THEN
		RAISE EXCEPTION 'upgrade check failed: %', what;
	END IF;
	RAISE NOTICE 'ok: %', what;
END $$;
CREATE FUNCTION pg_temp.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;

SELECT pg_temp.expect((SELECT extversion FROM pg_extension WHERE extname = 'pgbank')
	= (SELECT default_version FROM pg_available_extensions WHERE name = 'pgbank'), 'updated to the default version');

-- old users log in with their old passwords (Argon2id hashes kept)
SELECT pg_temp.expect((SELECT l.access_token IS NOT NULL FROM pgbank.login('old_alice', 'alice-pw-1') l),
	'an old user logs in with the old password');
SELECT pg_temp.expect(pg_temp.sqlstate_of($$SELECT pgbank.login('old_alice', 'nope-nope')$$) = '28P01',
	'a wrong password is still refused');
-- an old access token is still valid, an old refresh token renews
SELECT pg_temp.expect((pgbank.verify_access_token(:'alice_access')).username = 'old_alice',
	'an access token issued before the upgrade verifies');
SELECT pg_temp.expect((SELECT r.access_token IS NOT NULL FROM pgbank.renew_access_token(:'alice_refresh') r),
	'a refresh token issued before the upgrade renews');
SELECT pg_temp.expect(pg_temp.sqlstate_of(format('SELECT pgbank.renew_access_token(%L)', :'bob_refresh_out')) = 'PB011',
	'a session logged out before the upgrade stays blocked');
-- old accounts transfer; balances and entries agree
SELECT pg_temp.expect((SELECT (r).from_account.balance FROM pgbank.transfer(:alice_usd, :bob_usd, 100, 'USD') r) = 8600,
	'an old account transfers from its old balance');
SELECT pg_temp.expect(pg_temp.sqlstate_of(format($$SELECT pgbank.transfer(%s, %s, 1499, 'USD', 'old-key-1')$$,
	:alice_usd, :bob_usd)) = pgbank.errcode('idempotency_conflict'),
	'an idempotency key its account used before the upgrade is still taken');
SELECT pg_temp.expect((SELECT (r).transfer.amount FROM pgbank.transfer(:alice_usd, :bob_usd, 1500, 'USD', 'old-key-1') r) = 1500
	AND (SELECT count(*) FROM pgbank.transfers WHERE idempotency_key = 'old-key-1') = 1,
	'a transfer made before the upgrade is replayed by its key, not repeated');
SELECT pg_temp.expect(NOT EXISTS (
	SELECT 1 FROM pgbank.accounts a
	 WHERE a.balance <> coalesce((SELECT e.balance_after FROM pgbank.entries e
	                               WHERE e.account_id = a.id ORDER BY e.created_at DESC, e.id DESC LIMIT 1), a.balance)),
	'every balance is its last entry''s balance_after');
-- old game results are read and updated
SELECT pg_temp.expect((pgbank.api_game_get(:'alice_access', 'apex', :'apex_id')->>'legend') = 'Wraith',
	'an old game result is read');
SELECT pg_temp.expect((pgbank.api_game_update(:'alice_access', 'apex', :'apex_id', '{"kills": 4}')->>'kills') = '4',
	'an old game result is updated');
SELECT pg_temp.expect((pgbank.api_game_table(:'alice_access', 'hots')->'summary'->>'wins') = '1',
	'an old game table is computed');
-- the old verification code of old_alice still verifies
SELECT pg_temp.expect((SELECT pgbank.verify_email(v.id, v.secret_code)->>'is_verified' FROM pgbank.verify_emails v
	WHERE v.username = 'old_alice') = 'true', 'an email code issued before the upgrade verifies');

-- the ledger (issue 14): opening balances became deposits from the house
-- accounts, and every invariant holds
SELECT pg_temp.expect(NOT EXISTS (SELECT 1 FROM pgbank.check_ledger()),
	'the ledger''s invariants hold after the upgrade (balances = entries, currencies sum to zero, two entries a transfer)');
SELECT pg_temp.expect((SELECT count(*) FROM pgbank.accounts WHERE owner IS NULL)
	= (SELECT count(*) FROM pgbank.currencies), 'every currency has its house account');
SELECT pg_temp.expect((SELECT amount = 10000 AND reference = 'opening balance' AND from_account_id < 0
	  FROM pgbank.transfers WHERE to_account_id = :alice_usd AND reference = 'opening balance'),
	'an old opening balance is a deposit from the house account');
SELECT pg_temp.expect((SELECT array_agg(s.balance_after ORDER BY s.entry_id DESC)
	  FROM pgbank.account_statement(:alice_usd, 100) s) IS NOT NULL
	AND (SELECT s.balance_after FROM pgbank.account_statement(:alice_usd, 1) s)
	  = (SELECT balance FROM pgbank.accounts WHERE id = :alice_usd),
	'an old account''s statement starts from its newest entry');
SELECT pg_temp.expect((SELECT (pgbank.post_hold((pgbank.hold(:alice_usd, :bob_usd, 10)).id)).transfer.amount) = 10,
	'an old account holds and posts');
SELECT pg_temp.expect(NOT EXISTS (SELECT 1 FROM pgbank.check_ledger()), 'the invariants hold after new moves');
