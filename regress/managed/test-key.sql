-- The managed suite's stand-in for the operator's one step after CREATE
-- EXTENSION (docs/managed.md): the token key (regress.conf's test key)
-- and a cheap bcrypt cost go into pgbank.settings. regress/sql re-creates
-- pgbank in every file, so an event trigger of the test database does it
-- each time. Test harness only.
CREATE EXTENSION pgcrypto;
CREATE FUNCTION public.managed_test_settings() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgbank')
	   AND NOT EXISTS (SELECT 1 FROM pgbank.settings WHERE name = 'pgbank.token_key') THEN
		INSERT INTO pgbank.settings VALUES
			('pgbank.token_key', '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'),
			('pgbank.bcrypt_cost', '4');
	END IF;
END
$$;
CREATE EVENT TRIGGER managed_test_settings ON ddl_command_end WHEN TAG IN ('CREATE EXTENSION')
	EXECUTE FUNCTION public.managed_test_settings();
