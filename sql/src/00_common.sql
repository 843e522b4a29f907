-- Common: what every concern uses. The rule for each kind of input is
-- written once here: bad input is 22023 naming its field
-- (pgbank.invalid_input); request bodies are read by body_object and
-- body_text/body_bigint; path and query values by param_id, param_int and
-- param_date; a page by check_page. Error codes of pgbank's own rules come
-- from pgbank.errcode(name), generated from sql/errcodes.txt.
--
-- A helper that is one SQL expression is written with a SQL-standard body
-- (RETURN ...) and no SET clause: its names are bound when it is created,
-- so no caller's search_path can change what it calls, and the planner can
-- inline it into the calling statement's plan. A `LANGUAGE sql ... AS $$`
-- body with a pinned search_path is parsed and planned again in every
-- transaction that calls it, and runs with the setting saved and restored
-- around each call (30% of api_get_account's time, docs/benchmarks.md).
-- SECURITY DEFINER routines keep their pinned search_path. A caller hands
-- such a helper a variable, not a call: a helper that uses its argument
-- more than once is not inlined when the argument is a function call.
--
-- The readers every request calls several times (invalid_input, required,
-- body_object, body_text, body_bigint, param_id, param_int) are C
-- (extension/request.c): as PL/pgSQL with a pinned search_path each call
-- cost about 5 µs, half of it the setting's save and restore. The managed
-- build has their PL/pgSQL twins (sql/managed/00_common.sql).

CREATE OR REPLACE FUNCTION pgbank.invalid_input(field text, message text) RETURNS void
	AS 'MODULE_PATHNAME', 'pgbank_invalid_input_sql'
	LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION pgbank.invalid_input(text, text) IS
	'Raise 22023 "invalid <field>: <message>", naming the field in the detail and the column';

CREATE OR REPLACE FUNCTION pgbank.required(field text, value anyelement) RETURNS anyelement
	AS 'MODULE_PATHNAME', 'pgbank_required'
	LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION pgbank.required(text, anyelement) IS
	'The value, or 22023 naming the field when it is NULL';

-- ----- request bodies -----

-- A route that takes a body needs one: no body is as wrong as a JSON array.
CREATE OR REPLACE FUNCTION pgbank.body_object(body json) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'pgbank_body_object'
	LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION pgbank.body_object(json) IS
	'A request body as a JSON object; no body or anything else is 22023 naming the body';

CREATE OR REPLACE FUNCTION pgbank.body_text(body jsonb, field text) RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_body_text'
	LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION pgbank.body_text(jsonb, text) IS
	'A string field of a request body (NULL when absent); another type is 22023';

CREATE OR REPLACE FUNCTION pgbank.body_bigint(body jsonb, field text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'pgbank_body_bigint'
	LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION pgbank.body_bigint(jsonb, text) IS
	'An integer field of a request body (NULL when absent); another type is 22023';

-- ----- path and query values (text, so that a bad one names its field) -----

-- An id from a path or query: required, a positive integer.
CREATE OR REPLACE FUNCTION pgbank.param_id(field text, value text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'pgbank_param_id'
	LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION pgbank.param_id(text, text) IS
	'A path or query id: a positive integer; 22023 naming the field when missing or malformed';

-- An integer from a query, NULL when absent; its bounds are the rule of
-- the function it is given to.
CREATE OR REPLACE FUNCTION pgbank.param_int(field text, value text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'pgbank_param_int'
	LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION pgbank.param_int(text, text) IS
	'A query integer (NULL when absent); 22023 naming the field when it is not an integer';

-- A date from a query (YYYY-MM-DD), NULL when absent.
CREATE OR REPLACE FUNCTION pgbank.param_date(field text, value text) RETURNS date
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF value IS NULL OR value = '' THEN
		RETURN NULL;
	END IF;
	IF value ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
		BEGIN
			RETURN value::date;
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			NULL;
		END;
	END IF;
	PERFORM pgbank.invalid_input(field, 'must be a date (YYYY-MM-DD)');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION pgbank.param_date(text, text) IS
	'A query date (YYYY-MM-DD, NULL when absent); 22023 naming the field when it is not one';

-- A time from a query (ISO 8601, with its offset), NULL when absent.
CREATE OR REPLACE FUNCTION pgbank.param_timestamp(field text, value text) RETURNS timestamptz
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF value IS NULL OR value = '' THEN
		RETURN NULL;
	END IF;
	IF value ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN
		BEGIN
			RETURN value::timestamptz;
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			NULL;
		END;
	END IF;
	PERFORM pgbank.invalid_input(field, 'must be a time with its offset (such as 2024-01-02T03:04:05Z)');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION pgbank.param_timestamp(text, text) IS
	'A query time (ISO 8601 with an offset, NULL when absent); 22023 naming the field when it is not one';

-- The paging rule, for every list: page_id from 1, page_size within the
-- list's bounds. Lists check their page with this, once.
CREATE OR REPLACE FUNCTION pgbank.check_page(page_id bigint, page_size bigint,
	min_size int, max_size int) RETURNS void
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF page_id IS NULL THEN
		PERFORM pgbank.invalid_input('page_id', 'is required');
	END IF;
	IF page_id NOT BETWEEN 1 AND 2147483647 THEN
		PERFORM pgbank.invalid_input('page_id', 'must be between 1 and 2147483647');
	END IF;
	PERFORM pgbank.check_page_size(page_size, min_size, max_size);
END
$$;
COMMENT ON FUNCTION pgbank.check_page(bigint, bigint, int, int) IS
	'22023 unless page_id is 1 to 2147483647 and page_size within [min_size, max_size]';

-- A page read from a cursor (a keyset) has a size and no number.
CREATE OR REPLACE FUNCTION pgbank.check_page_size(page_size bigint, min_size int, max_size int) RETURNS void
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF page_size IS NULL THEN
		PERFORM pgbank.invalid_input('page_size', 'is required');
	END IF;
	IF page_size NOT BETWEEN min_size AND max_size THEN
		PERFORM pgbank.invalid_input('page_size', format('must be between %s and %s', min_size, max_size));
	END IF;
END
$$;
COMMENT ON FUNCTION pgbank.check_page_size(bigint, int, int) IS
	'22023 unless page_size is within [min_size, max_size]';

-- ----- secrets -----

-- The one constant-time comparison of secrets (extension/secret.c): both
-- are hashed first, so the time tells neither where they differ nor their
-- lengths.
CREATE OR REPLACE FUNCTION pgbank.secret_code_matches(expected text, given text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pgbank_secret_code_matches'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.secret_code_matches(text, text) IS
	'Whether a secret (an email code, a refresh token) equals the stored one, in time independent of their contents and lengths';

-- ----- settings -----

-- Durations are GUCs in seconds, shown with units ('1d'); as seconds, so
-- that a day is 86400 s even across a DST change.
CREATE OR REPLACE FUNCTION pgbank.setting_interval(name text) RETURNS interval
	LANGUAGE sql STABLE STRICT
	RETURN pg_catalog.make_interval(secs => pg_catalog.date_part('epoch',
		pg_catalog.current_setting(name)::interval));
COMMENT ON FUNCTION pgbank.setting_interval(text) IS
	'A duration setting (such as pgbank.access_token_duration) as an interval';
