-- Data in every table of pgbank 0.1.0, made through 0.1.0's own functions,
-- and the tokens it issued, kept in public.fixture for check.sql to use
-- after the upgrade.
CREATE TABLE public.fixture (name text PRIMARY KEY, value text NOT NULL);

SELECT 1 FROM pgbank.create_user('old_alice', 'alice-pw-1', 'Old Alice', 'old_alice@example.com');
SELECT 1 FROM pgbank.create_user('old_bob', 'bob-pw-1', 'Old Bob', 'old_bob@example.com');
SELECT pgbank.make_admin('old_bob');

INSERT INTO public.fixture
SELECT 'alice_usd', id::text FROM pgbank.create_account('old_alice', 'USD', 10000);
INSERT INTO public.fixture
SELECT 'bob_usd', id::text FROM pgbank.create_account('old_bob', 'USD', 500);
SELECT 1 FROM pgbank.create_account('old_bob', 'EUR');
SELECT 1 FROM pgbank.transfer((SELECT value::bigint FROM public.fixture WHERE name = 'alice_usd'),
	(SELECT value::bigint FROM public.fixture WHERE name = 'bob_usd'), 1500, 'USD', 'old-key-1');
SELECT 1 FROM pgbank.transfer((SELECT value::bigint FROM public.fixture WHERE name = 'bob_usd'),
	(SELECT value::bigint FROM public.fixture WHERE name = 'alice_usd'), 200);

-- sessions and access tokens: two logins, one logged out
INSERT INTO public.fixture
SELECT 'alice_refresh', refresh_token FROM pgbank.login('old_alice', 'alice-pw-1', 'upgrade-test', '127.0.0.1');
INSERT INTO public.fixture
SELECT 'alice_access', access_token FROM pgbank.login('old_alice', 'alice-pw-1');
INSERT INTO public.fixture
SELECT 'bob_access', access_token FROM pgbank.login('old_bob', 'bob-pw-1');
INSERT INTO public.fixture
SELECT 'bob_refresh_out', refresh_token FROM pgbank.login('old_bob', 'bob-pw-1');
SELECT pgbank.logout((SELECT value FROM public.fixture WHERE name = 'bob_refresh_out'));

-- email: verify old_bob; old_alice's code stays unused
SELECT pgbank.verify_email(v.id, v.secret_code) FROM pgbank.verify_emails v WHERE v.username = 'old_bob';
UPDATE pgbank.outbox SET status = 'sent', sent_at = now(), attempts = 1 WHERE recipient = 'old_bob@example.com';

-- a result of every game
INSERT INTO public.fixture
SELECT 'apex_id', (pgbank.api_game_create((SELECT value FROM public.fixture WHERE name = 'alice_access'), 'apex',
	'{"date": "2024-01-02", "legend": "Wraith", "kills": 3, "placement": 1, "damage": 900, "time_seconds": 1200, "teammates": ["x"]}')->>'id');
SELECT 1 FROM pgbank.api_game_create((SELECT value FROM public.fixture WHERE name = 'alice_access'), 'fortnite',
	'{"date": "2024-01-03", "kills": 1, "placement": 7, "mode": "duos"}');
SELECT 1 FROM pgbank.api_game_create((SELECT value FROM public.fixture WHERE name = 'alice_access'), 'hots',
	'{"date": "2024-01-04", "result": "win", "hero": "Jaina", "kills": 5, "deaths": 2, "assists": 9, "time_seconds": 1500, "map": "Towers of Doom"}');

-- a failed login is counted by the throttle (shared memory, not a table)
DO $$ BEGIN PERFORM pgbank.login('old_alice', 'wrong-pw'); EXCEPTION WHEN invalid_password THEN NULL; END $$;

-- every table of the extension holds rows
DO $$
DECLARE
	t regclass;
	n bigint;
BEGIN
	FOR t IN SELECT c.oid FROM pg_class c WHERE c.relnamespace = 'pgbank'::regnamespace AND c.relkind = 'r' LOOP
		EXECUTE format('SELECT count(*) FROM %s', t) INTO n;
		IF n = 0 THEN
			RAISE EXCEPTION 'table % is empty: the upgrade test must fill it', t;
		END IF;
	END LOOP;
END
$$;
