/*
 * request.c
 *		The readers of a request's values (sql/src/00_common.sql): a body and
 *		its fields, path and query values, and the one error of bad input.
 *
 * Every API function calls several of them per request. As PL/pgSQL with a
 * pinned search_path each call cost about 5 µs, half of it saving and
 * restoring the setting; in C a call is a fraction of a microsecond, and no
 * search_path can change what one does. The managed build, which loads no C,
 * has their PL/pgSQL twins (sql/managed/00_common.sql): the same rules, the
 * same errors.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "errors.h"

PG_FUNCTION_INFO_V1(pgbank_invalid_input_sql);
PG_FUNCTION_INFO_V1(pgbank_required);
PG_FUNCTION_INFO_V1(pgbank_body_object);
PG_FUNCTION_INFO_V1(pgbank_body_text);
PG_FUNCTION_INFO_V1(pgbank_body_bigint);
PG_FUNCTION_INFO_V1(pgbank_param_id);
PG_FUNCTION_INFO_V1(pgbank_param_int);

/* Text argument argno as a C string; "" when NULL (as format('%s') reads it). */
static const char *
text_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* 22023 naming the field that argument field_arg names. */
static void invalid_arg(FunctionCallInfo fcinfo, int field_arg,
						const char *message) pg_attribute_noreturn();

static void
invalid_arg(FunctionCallInfo fcinfo, int field_arg, const char *message)
{
	pgbank_invalid_input(text_arg(fcinfo, field_arg), message);
}

/* pgbank.invalid_input(field, message): 22023 naming the field. */
Datum
pgbank_invalid_input_sql(PG_FUNCTION_ARGS)
{
	pgbank_invalid_input(text_arg(fcinfo, 0), text_arg(fcinfo, 1));
	PG_RETURN_VOID();
}

/* pgbank.required(field, value): the value, or 22023 when it is NULL. */
Datum
pgbank_required(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(1))
		invalid_arg(fcinfo, 0, "is required");
	PG_RETURN_DATUM(PG_GETARG_DATUM(1));
}

/*
 * pgbank.body_object(body json): the body as jsonb when it is a JSON object
 * (json_typeof reads only its first token: the json type checked the rest).
 */
Datum
pgbank_body_object(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) ||
		strcmp(TextDatumGetCString(DirectFunctionCall1(json_typeof, PG_GETARG_DATUM(0))),
			   "object") != 0)
		pgbank_invalid_input("body", "must be a JSON object");
	/* json to jsonb is a cast through text, as body::jsonb */
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(TextDatumGetCString(PG_GETARG_DATUM(0))));
}

/*
 * The value of a body's top-level field, into *v: false when the body, the
 * field or the value is absent, or the value is JSON null.
 */
static bool
body_field(FunctionCallInfo fcinfo, JsonbValue *v)
{
	Jsonb	   *body;
	text	   *field;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return false;
	body = PG_GETARG_JSONB_P(0);
	field = PG_GETARG_TEXT_PP(1);
	if (!JB_ROOT_IS_OBJECT(body) ||
		getKeyJsonValueFromContainer(&body->root, VARDATA_ANY(field),
									 VARSIZE_ANY_EXHDR(field), v) == NULL)
		return false;
	return v->type != jbvNull;
}

/* pgbank.body_text(body, field): a string field, NULL when absent. */
Datum
pgbank_body_text(PG_FUNCTION_ARGS)
{
	JsonbValue	v;

	if (!body_field(fcinfo, &v))
		PG_RETURN_NULL();
	if (v.type != jbvString)
		invalid_arg(fcinfo, 1, "must be a string");
	PG_RETURN_TEXT_P(cstring_to_text_with_len(v.val.string.val, v.val.string.len));
}

static bool
numeric_true(PGFunction cmp, Datum a, Datum b)
{
	return DatumGetBool(DirectFunctionCall2(cmp, a, b));
}

/*
 * pgbank.body_bigint(body, field): an integer field (a JSON number with no
 * fraction, 1e3 included, within bigint), NULL when absent.
 */
Datum
pgbank_body_bigint(PG_FUNCTION_ARGS)
{
	JsonbValue	v;
	Datum		n;

	if (!body_field(fcinfo, &v))
		PG_RETURN_NULL();
	if (v.type != jbvNumeric)
		invalid_arg(fcinfo, 1, "must be an integer");
	n = NumericGetDatum(v.val.numeric);
	if (!numeric_true(numeric_eq, n, DirectFunctionCall2(numeric_trunc, n, Int32GetDatum(0))) ||
		!numeric_true(numeric_ge, n, NumericGetDatum(int64_to_numeric(PG_INT64_MIN))) ||
		!numeric_true(numeric_le, n, NumericGetDatum(int64_to_numeric(PG_INT64_MAX))))
		invalid_arg(fcinfo, 1, "must be an integer");
	/* within bigint and whole: the conversion cannot fail or round */
	return DirectFunctionCall1(numeric_int8, n);
}

/*
 * Whether s is 1 to 18 ASCII digits, after a '-' when sign_ok: always within
 * bigint, so the rule is the same in the managed build's regular expression.
 */
static bool
short_integer(const char *s, bool sign_ok)
{
	size_t		n;

	if (sign_ok && *s == '-')
		s++;
	n = strspn(s, "0123456789");
	return n >= 1 && n <= 18 && s[n] == '\0';
}

/* pgbank.param_id(field, value): a path or query id, a positive integer. */
Datum
pgbank_param_id(PG_FUNCTION_ARGS)
{
	const char *value = text_arg(fcinfo, 1);
	int64		id;

	if (*value == '\0')
		invalid_arg(fcinfo, 0, "is required");
	if (!short_integer(value, false) || (id = pg_strtoint64(value)) < 1)
		invalid_arg(fcinfo, 0, "must be a positive integer");
	PG_RETURN_INT64(id);
}

/* pgbank.param_int(field, value): a query integer, NULL when absent. */
Datum
pgbank_param_int(PG_FUNCTION_ARGS)
{
	const char *value = text_arg(fcinfo, 1);

	if (*value == '\0')
		PG_RETURN_NULL();
	if (!short_integer(value, true))
		invalid_arg(fcinfo, 0, "must be an integer");
	PG_RETURN_INT64(pg_strtoint64(value));
}
