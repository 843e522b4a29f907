-- Common (sql/src/00_common.sql): the one parser of each kind of request
-- value, the body readers, the page rule and the error names.
\i regress/include/setup.sql

-- === request bodies ===
SELECT pgbank.body_object('{"a": 1}') AS object;
SELECT pgbank.body_object(NULL);
SELECT pgbank.body_object('[1, 2]');
SELECT pgbank.body_object('"text"');
SELECT pgbank.body_text('{"s": "x", "n": null}', 's') AS s,
       pgbank.body_text('{"s": "x", "n": null}', 'n') AS json_null,
       pgbank.body_text('{"s": "x"}', 'absent') AS absent;
SELECT pgbank.body_text('{"s": 5}', 's');
SELECT pgbank.body_text('{"s": {"a": 1}}', 's');
SELECT pgbank.body_bigint('{"n": 42}', 'n') AS n, pgbank.body_bigint('{"n": -7}', 'n') AS negative,
       pgbank.body_bigint('{"n": 1e3}', 'n') AS exponent, pgbank.body_bigint('{}', 'n') AS absent;
SELECT pgbank.body_bigint('{"amount": 1.5}', 'amount');
SELECT pgbank.body_bigint('{"amount": "10"}', 'amount');
SELECT pgbank.body_bigint('{"amount": 99999999999999999999}', 'amount');
-- the edges: whitespace before the object, bigint's bounds, a whole number
-- written with a fraction or an exponent, the last of duplicate keys, a
-- body that is not an object given to a field reader
SELECT pgbank.body_object(E' \n\t{"a": 1}') AS spaced, pgbank.body_object('{}') AS empty;
SELECT pgbank.body_object(E'\n [{"a": 1}]');
SELECT pgbank.body_bigint('{"n": 9223372036854775807}', 'n') AS max,
       pgbank.body_bigint('{"n": -9223372036854775808}', 'n') AS min,
       pgbank.body_bigint('{"n": 5.000}', 'n') AS whole,
       pgbank.body_bigint('{"n": 1.5e1}', 'n') AS fraction_exponent,
       pgbank.body_bigint('{"n": 1, "n": 2}', 'n') AS last_key,
       pgbank.body_bigint('[1]', 'n') AS array_body, pgbank.body_text('"s"', 's') AS scalar_body,
       pgbank.body_bigint(NULL, 'n') AS no_body, pgbank.body_text('{"s": "x"}', NULL) AS no_field;
SELECT pgbank.body_bigint('{"n": 9223372036854775808}', 'n');
SELECT pgbank.body_bigint('{"n": -9223372036854775809}', 'n');
SELECT pgbank.body_bigint('{"n": true}', 'n');
SELECT pgbank.body_bigint('{"n": 25e-1}', 'n');
SELECT pgbank.body_text('{"s": "caf\u00e9 \"q\""}', 's') AS unescaped;
SELECT pgbank.required('field', 1) AS one;
SELECT pgbank.required('currency', NULL::text);

-- === path and query values ===
SELECT pgbank.param_id('id', '1') AS one, pgbank.param_id('id', '123456789012345678') AS big,
       pgbank.param_int('page_size', '5') AS five;
SELECT pgbank.param_id('id', NULL);
SELECT pgbank.param_id('id', '');
SELECT pgbank.param_id('id', 'abc');
SELECT pgbank.param_id('id', '0');
SELECT pgbank.param_id('id', '-3');
SELECT pgbank.param_id('id', '1 OR 1=1');
SELECT pgbank.param_id('id', '1234567890123456789');
SELECT pgbank.check_page(1, pgbank.param_int('page_size', '4'), 5, 10);

-- === API parameters arrive as text and are parsed naming their field ===
SELECT pgbank.param_id('id', '42') AS id, pgbank.param_id('id', '000123') AS leading_zeros;
SELECT pgbank.param_id('id', NULL);
SELECT pgbank.param_id('id', '');
SELECT pgbank.param_id('id', '0');
SELECT pgbank.param_id('id', '-1');
SELECT pgbank.param_id('id', '1.5');
SELECT pgbank.param_id('id', 'abc');
SELECT pgbank.param_id('id', ' 1');
SELECT pgbank.param_id('id', '9999999999999999999');
SELECT pgbank.param_int('page_id', NULL) AS absent,
       pgbank.param_int('page_id', '') AS empty,
       pgbank.param_int('page_size', '10') AS upper_bound;
SELECT pgbank.param_int('page_size', '11') AS inside,
       pgbank.param_int('page_size', '1') AS lower_bound;
-- the bounds are the list's (check_page), the parser only reads integers
SELECT pgbank.check_page(1, pgbank.param_int('page_size', '101'), 1, 100);
SELECT pgbank.check_page(1, pgbank.param_int('page_size', '0'), 1, 100);
SELECT pgbank.param_int('page_id', 'x');
SELECT pgbank.check_page(pgbank.param_int('page_id', '-3'), 10, 1, 100);
SELECT pgbank.param_int('page_id', '1e3');
SELECT pgbank.param_int('page_id', '-0') AS minus_zero, pgbank.param_int('page_id', '-999999999999999999') AS lowest;
SELECT pgbank.param_int('page_id', '-');
SELECT pgbank.param_int('page_id', E'12\n');
SELECT pgbank.param_id('id', E'7\n');
SELECT to_char(pgbank.param_date('from', '2024-05-01'), 'YYYY-MM-DD') AS from_date,
       pgbank.param_date('from', NULL) AS absent, pgbank.param_date('to', '') AS empty;
SELECT pgbank.param_date('from', '2024-13-01');
SELECT pgbank.param_date('to', '2024-02-30');
SELECT pgbank.param_date('to', 'yesterday');
SELECT pgbank.param_date('from', '01/05/2024');
SELECT pgbank.param_date('from', '2024-05-01 10:00');

-- === the page rule, for every list ===
SELECT pgbank.check_page(1, 5, 5, 10) AS smallest, pgbank.check_page(2147483647, 10, 5, 10) AS largest;
SELECT pgbank.check_page(NULL, 5, 5, 10);
SELECT pgbank.check_page(0, 5, 5, 10);
SELECT pgbank.check_page(2147483648, 5, 5, 10);
SELECT pgbank.check_page(1, NULL, 5, 10);
SELECT pgbank.check_page(1, 11, 5, 10);

-- === error names (sql/errcodes.txt) ===
SELECT pgbank.errcode('insufficient_funds') AS insufficient_funds,
       pgbank.errcode('login_throttled') AS login_throttled,
       pgbank.errcode('no_such_name') AS unknown;
