/*
 * pbjson.c
 *		Protobuf messages to JSON and back, over protobuf-c's descriptors.
 *
 * The gRPC front carries the same JSON as the HTTP API: a request message
 * becomes the JSON object the route's SQL function reads, and the
 * function's JSON answer becomes the response message. Nothing here knows
 * a message: each field is converted by its descriptor's type, found by its
 * name, which is the JSON key (the SQL functions use the .proto names).
 *
 * The JSON is the API's, so it differs from protobuf's canonical JSON
 * mapping in two ways: 64-bit integers are JSON numbers (the SQL functions
 * want numbers), and keys are the fields' .proto names. A field is written
 * only when it is present: set in its oneof (proto3 `optional`), a message
 * that is set, a non-empty repeated field, or a proto3 scalar that is not
 * its default (0, "", false), which proto3 cannot tell from "not sent".
 * The well-known types Timestamp (RFC 3339 text), Struct, Value and
 * ListValue (any JSON) are converted as protobuf's JSON mapping says.
 *
 * Strings must be UTF-8 without NUL bytes (proto3's rule, and text cannot
 * hold NUL in PostgreSQL); a request that breaks it is refused naming the
 * field. Answers are trusted to fit (they come from our SQL functions); a
 * key the response does not have is skipped, so the SQL side may add one.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_check.h"
#include "rpc.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

#define MAX_SAFE_INTEGER 9007199254740992.0	/* 2^53: exact as a double */
#define TIMESTAMP_MIN (-62135596800LL)	/* 0001-01-01T00:00:00Z */
#define TIMESTAMP_MAX 253402300799LL	/* 9999-12-31T23:59:59Z */

static json_t *value_to_json(const Google__Protobuf__Value *v);
static json_t *message_to_json(const ProtobufCMessage *msg, char *field,
							   size_t field_size);

/* ----- helpers over descriptors ----- */

static bool
is_type(const ProtobufCMessageDescriptor *d, const char *name)
{
	return strcmp(d->name, name) == 0;
}

static size_t
element_size(ProtobufCType type)
{
	switch (type)
	{
		case PROTOBUF_C_TYPE_INT64:
		case PROTOBUF_C_TYPE_SINT64:
		case PROTOBUF_C_TYPE_SFIXED64:
		case PROTOBUF_C_TYPE_UINT64:
		case PROTOBUF_C_TYPE_FIXED64:
		case PROTOBUF_C_TYPE_DOUBLE:
			return 8;
		case PROTOBUF_C_TYPE_BOOL:
			return sizeof(protobuf_c_boolean);
		case PROTOBUF_C_TYPE_STRING:
		case PROTOBUF_C_TYPE_MESSAGE:
			return sizeof(void *);
		case PROTOBUF_C_TYPE_BYTES:
			return sizeof(ProtobufCBinaryData);
		default:
			return 4;
	}
}

#define MEMBER(msg, offset) ((char *) (msg) + (offset))

/* Whether a field counts as sent (see the file's comment). */
static bool
field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	const char *m = MEMBER(msg, f->offset);

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *) MEMBER(msg, f->quantifier_offset) > 0;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *) MEMBER(msg, f->quantifier_offset) == f->id;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		return *(void *const *) m != NULL;
	if (f->type == PROTOBUF_C_TYPE_STRING)
	{
		const char *s = *(const char *const *) m;

		return s != NULL && (f->label != PROTOBUF_C_LABEL_NONE || s[0] != '\0');
	}
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
		return *(const protobuf_c_boolean *) MEMBER(msg, f->quantifier_offset);
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return true;
	switch (f->type)
	{
		case PROTOBUF_C_TYPE_INT64:
		case PROTOBUF_C_TYPE_SINT64:
		case PROTOBUF_C_TYPE_SFIXED64:
		case PROTOBUF_C_TYPE_UINT64:
		case PROTOBUF_C_TYPE_FIXED64:
			return *(const uint64_t *) m != 0;
		case PROTOBUF_C_TYPE_DOUBLE:
			return *(const double *) m != 0;
		case PROTOBUF_C_TYPE_FLOAT:
			return *(const float *) m != 0;
		case PROTOBUF_C_TYPE_BOOL:
			return *(const protobuf_c_boolean *) m != 0;
		case PROTOBUF_C_TYPE_BYTES:
			return ((const ProtobufCBinaryData *) m)->len > 0;
		default:
			return *(const uint32_t *) m != 0;
	}
}

/* ----- request messages to JSON ----- */

/* A number as JSON: an integer when it is one (the SQL checks want 5, not 5.0). */
static json_t *
number_to_json(double d)
{
	if (!isfinite(d))
		return NULL;
	if (d == trunc(d) && fabs(d) < MAX_SAFE_INTEGER)
		return json_integer((json_int_t) d);
	return json_real(d);
}

static json_t *
string_to_json(const char *s, size_t len)
{
	if (memchr(s, '\0', len) != NULL)
		return NULL;
	return json_stringn(s, len);	/* NULL when not UTF-8 */
}

static json_t *
struct_to_json(const Google__Protobuf__Struct *st)
{
	json_t	   *obj = json_object();
	size_t		i;

	for (i = 0; obj && i < st->n_fields; i++)
	{
		const Google__Protobuf__Struct__FieldsEntry *e = st->fields[i];
		json_t	   *v;

		if (e->key == NULL || !utf8_valid(e->key, strlen(e->key), NULL) ||
			(v = value_to_json(e->value)) == NULL ||
			json_object_set_new(obj, e->key, v) != 0)
		{
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

static json_t *
list_to_json(const Google__Protobuf__ListValue *l)
{
	json_t	   *arr = json_array();
	size_t		i;

	for (i = 0; arr && i < l->n_values; i++)
	{
		json_t	   *v = value_to_json(l->values[i]);

		if (v == NULL || json_array_append_new(arr, v) != 0)
		{
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* A Value is any JSON value; an unset one reads as null. */
static json_t *
value_to_json(const Google__Protobuf__Value *v)
{
	if (v == NULL)
		return json_null();
	switch (v->kind_case)
	{
		case GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE:
			return number_to_json(v->number_value);
		case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE:
			return v->string_value ? string_to_json(v->string_value, strlen(v->string_value)) : NULL;
		case GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE:
			return json_boolean(v->bool_value);
		case GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE:
			return v->struct_value ? struct_to_json(v->struct_value) : json_object();
		case GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE:
			return v->list_value ? list_to_json(v->list_value) : json_array();
		default:
			return json_null();
	}
}

/*
 * RFC 3339 in UTC, with as many fraction digits as needed (none, 3 or 6).
 * Nanoseconds are cut to the microsecond, PostgreSQL's precision, whose
 * time parsers take six digits at most (a Go client's timestamppb.Now()
 * has nine): the time is that of the microsecond it falls in.
 */
static json_t *
timestamp_to_json(const Google__Protobuf__Timestamp *ts)
{
	char		text[64];
	char		frac[16] = "";
	time_t		secs = (time_t) ts->seconds;
	struct tm	tm;
	int32_t		micros = ts->nanos / 1000;

	if (ts->seconds < TIMESTAMP_MIN || ts->seconds > TIMESTAMP_MAX ||
		ts->nanos < 0 || ts->nanos > 999999999 || gmtime_r(&secs, &tm) == NULL)
		return NULL;
	if (micros % 1000 == 0 && micros)
		snprintf(frac, sizeof(frac), ".%03d", micros / 1000);
	else if (micros)
		snprintf(frac, sizeof(frac), ".%06d", micros);
	snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d%sZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec, frac);
	return json_string(text);
}

/* A message field's value: a well-known type, or a message as an object. */
static json_t *
submessage_to_json(const ProtobufCMessage *sub, char *field, size_t field_size)
{
	const ProtobufCMessageDescriptor *d = sub->descriptor;

	if (is_type(d, "google.protobuf.Timestamp"))
		return timestamp_to_json((const Google__Protobuf__Timestamp *) sub);
	if (is_type(d, "google.protobuf.Struct"))
		return struct_to_json((const Google__Protobuf__Struct *) sub);
	if (is_type(d, "google.protobuf.Value"))
		return value_to_json((const Google__Protobuf__Value *) sub);
	if (is_type(d, "google.protobuf.ListValue"))
		return list_to_json((const Google__Protobuf__ListValue *) sub);
	return message_to_json(sub, field, field_size);
}

/* One value of a field (an element, for a repeated one). */
static json_t *
scalar_to_json(const ProtobufCFieldDescriptor *f, const void *p, char *field,
			   size_t field_size)
{
	switch (f->type)
	{
		case PROTOBUF_C_TYPE_INT32:
		case PROTOBUF_C_TYPE_SINT32:
		case PROTOBUF_C_TYPE_SFIXED32:
			return json_integer(*(const int32_t *) p);
		case PROTOBUF_C_TYPE_UINT32:
		case PROTOBUF_C_TYPE_FIXED32:
			return json_integer(*(const uint32_t *) p);
		case PROTOBUF_C_TYPE_INT64:
		case PROTOBUF_C_TYPE_SINT64:
		case PROTOBUF_C_TYPE_SFIXED64:
			return json_integer(*(const int64_t *) p);
		case PROTOBUF_C_TYPE_UINT64:
		case PROTOBUF_C_TYPE_FIXED64:
			if (*(const uint64_t *) p > (uint64_t) LLONG_MAX)
				return NULL;
			return json_integer((json_int_t) *(const uint64_t *) p);
		case PROTOBUF_C_TYPE_FLOAT:
			return number_to_json(*(const float *) p);
		case PROTOBUF_C_TYPE_DOUBLE:
			return number_to_json(*(const double *) p);
		case PROTOBUF_C_TYPE_BOOL:
			return json_boolean(*(const protobuf_c_boolean *) p);
		case PROTOBUF_C_TYPE_ENUM:
			{
				const ProtobufCEnumValue *ev =
					protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *) p);

				return ev ? json_string(ev->name) : json_integer(*(const int *) p);
			}
		case PROTOBUF_C_TYPE_STRING:
			{
				const char *s = *(const char *const *) p;

				return s ? string_to_json(s, strlen(s)) : json_string("");
			}
		case PROTOBUF_C_TYPE_MESSAGE:
			{
				const ProtobufCMessage *sub = *(const ProtobufCMessage *const *) p;

				return sub ? submessage_to_json(sub, field, field_size) : json_null();
			}
		default:
			/* bytes: no message of the API has any */
			return NULL;
	}
}

static json_t *
field_to_json(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
			  char *field, size_t field_size)
{
	const char *m = MEMBER(msg, f->offset);
	json_t	   *arr;
	size_t		n;
	size_t		i;

	if (f->label != PROTOBUF_C_LABEL_REPEATED)
		return scalar_to_json(f, m, field, field_size);
	n = *(const size_t *) MEMBER(msg, f->quantifier_offset);
	arr = json_array();
	for (i = 0; arr && i < n; i++)
	{
		const char *base = *(const char *const *) m;
		json_t	   *v = scalar_to_json(f, base + i * element_size(f->type), field, field_size);

		if (v == NULL || json_array_append_new(arr, v) != 0)
		{
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *
message_to_json(const ProtobufCMessage *msg, char *field, size_t field_size)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	json_t	   *obj = json_object();
	unsigned	i;

	for (i = 0; obj && i < d->n_fields; i++)
	{
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		json_t	   *v;

		if (!field_present(msg, f))
			continue;
		field[0] = '\0';
		v = field_to_json(msg, f, field, field_size);
		if (v == NULL)
		{
			/* name the outermost field: the one the client sent */
			snprintf(field, field_size, "%s", f->name);
			json_decref(obj);
			return NULL;
		}
		json_object_set_new(obj, f->name, v);
	}
	return obj;
}

/*
 * A request message as the JSON object of its present fields. NULL when a
 * value cannot be JSON (a string that is not UTF-8 or holds NUL, a number
 * that is not finite, a Timestamp out of range): field names it.
 */
json_t *
pbjson_from_message(const ProtobufCMessage *msg, char *field, size_t field_size)
{
	if (field_size > 0)
		field[0] = '\0';
	return message_to_json(msg, field, field_size);
}

/* ----- JSON answers to response messages ----- */

static ProtobufCMessage *json_to_message(const ProtobufCMessageDescriptor *d,
										 json_t *j, char *err, size_t err_size);

static void *
new_message(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = calloc(1, d->sizeof_message);

	if (m)
		protobuf_c_message_init(d, m);
	return m;
}

/* Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t		era;
	unsigned	yoe;
	unsigned	doy;
	unsigned	doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned) (y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t) doe - 719468;
}

/*
 * RFC 3339 text as PostgreSQL's JSON writes a timestamptz
 * ("2024-03-01T10:00:00.123456+00:00") or with a Z.
 */
static bool
parse_timestamp(const char *s, Google__Protobuf__Timestamp *ts)
{
	int			y,
				mo,
				d,
				h,
				mi,
				sec,
				n = 0;
	int64_t		nanos = 0;
	int			digits = 0;
	int			off = 0;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
		n != 19 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	s += n;
	if (*s == '.')
	{
		for (s++; *s >= '0' && *s <= '9'; s++, digits++)
		{
			if (digits < 9)
				nanos = nanos * 10 + (*s - '0');
		}
		if (digits == 0)
			return false;
		for (; digits < 9; digits++)
			nanos *= 10;
	}
	if (*s == 'Z' && s[1] == '\0')
		off = 0;
	else if ((*s == '+' || *s == '-') && strlen(s) == 6 && s[3] == ':')
	{
		int			oh = (s[1] - '0') * 10 + (s[2] - '0');
		int			om = (s[4] - '0') * 10 + (s[5] - '0');

		off = (oh * 60 + om) * 60 * (*s == '-' ? -1 : 1);
	}
	else
		return false;
	ts->seconds = days_from_civil(y, (unsigned) mo, (unsigned) d) * 86400 +
		h * 3600 + mi * 60 + sec - off;
	ts->nanos = (int32_t) nanos;
	return true;
}

static ProtobufCMessage *json_to_value(json_t *j);

static ProtobufCMessage *
json_to_struct(json_t *j)
{
	Google__Protobuf__Struct *st;
	const char *key;
	json_t	   *v;

	if (!json_is_object(j) || (st = new_message(&google__protobuf__struct__descriptor)) == NULL)
		return NULL;
	st->fields = calloc(json_object_size(j) + 1, sizeof(*st->fields));
	if (st->fields == NULL)
	{
		free(st);
		return NULL;
	}
	json_object_foreach(j, key, v)
	{
		Google__Protobuf__Struct__FieldsEntry *e =
			new_message(&google__protobuf__struct__fields_entry__descriptor);

		if (e == NULL)
			break;
		st->fields[st->n_fields++] = e;
		e->key = strdup(key);
		e->value = (Google__Protobuf__Value *) json_to_value(v);
		if (e->key == NULL || e->value == NULL)
			break;
	}
	if (st->n_fields < json_object_size(j) ||
		(st->n_fields && (st->fields[st->n_fields - 1]->key == NULL ||
						  st->fields[st->n_fields - 1]->value == NULL)))
	{
		protobuf_c_message_free_unpacked(&st->base, NULL);
		return NULL;
	}
	return &st->base;
}

static ProtobufCMessage *
json_to_list(json_t *j)
{
	Google__Protobuf__ListValue *l;
	size_t		i;

	if (!json_is_array(j) || (l = new_message(&google__protobuf__list_value__descriptor)) == NULL)
		return NULL;
	l->values = calloc(json_array_size(j) + 1, sizeof(*l->values));
	if (l->values == NULL)
	{
		free(l);
		return NULL;
	}
	for (i = 0; i < json_array_size(j); i++)
	{
		l->values[i] = (Google__Protobuf__Value *) json_to_value(json_array_get(j, i));
		if (l->values[i] == NULL)
		{
			protobuf_c_message_free_unpacked(&l->base, NULL);
			return NULL;
		}
		l->n_values = i + 1;
	}
	return &l->base;
}

static ProtobufCMessage *
json_to_value(json_t *j)
{
	Google__Protobuf__Value *v = new_message(&google__protobuf__value__descriptor);

	if (v == NULL)
		return NULL;
	switch (json_typeof(j))
	{
		case JSON_NULL:
			v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
			v->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
			break;
		case JSON_TRUE:
		case JSON_FALSE:
			v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
			v->bool_value = json_is_true(j);
			break;
		case JSON_INTEGER:
		case JSON_REAL:
			v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
			v->number_value = json_number_value(j);
			break;
		case JSON_STRING:
			v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
			v->string_value = strdup(json_string_value(j));
			if (v->string_value == NULL)
			{
				free(v);
				return NULL;
			}
			break;
		case JSON_OBJECT:
			v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
			v->struct_value = (Google__Protobuf__Struct *) json_to_struct(j);
			if (v->struct_value == NULL)
			{
				free(v);
				return NULL;
			}
			break;
		case JSON_ARRAY:
			v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
			v->list_value = (Google__Protobuf__ListValue *) json_to_list(j);
			if (v->list_value == NULL)
			{
				free(v);
				return NULL;
			}
			break;
	}
	return &v->base;
}

/* An integer from a JSON number or a string of digits (proto3 JSON's int64). */
static bool
json_integer_of(json_t *j, long long lo, long long hi, long long *out)
{
	char	   *end;
	const char *s;

	if (json_is_integer(j))
		*out = json_integer_value(j);
	else if (json_is_string(j) && (s = json_string_value(j))[0])
	{
		*out = strtoll(s, &end, 10);
		if (*end != '\0')
			return false;
	}
	else
		return false;
	return *out >= lo && *out <= hi;
}

/* Set one value (an element, for a repeated field) at p from JSON. */
static bool
json_to_scalar(const ProtobufCFieldDescriptor *f, json_t *j, void *p, char *err,
			   size_t err_size)
{
	long long	n;

	switch (f->type)
	{
		case PROTOBUF_C_TYPE_INT32:
		case PROTOBUF_C_TYPE_SINT32:
		case PROTOBUF_C_TYPE_SFIXED32:
			if (!json_integer_of(j, INT32_MIN, INT32_MAX, &n))
				return false;
			*(int32_t *) p = (int32_t) n;
			return true;
		case PROTOBUF_C_TYPE_UINT32:
		case PROTOBUF_C_TYPE_FIXED32:
			if (!json_integer_of(j, 0, UINT32_MAX, &n))
				return false;
			*(uint32_t *) p = (uint32_t) n;
			return true;
		case PROTOBUF_C_TYPE_INT64:
		case PROTOBUF_C_TYPE_SINT64:
		case PROTOBUF_C_TYPE_SFIXED64:
		case PROTOBUF_C_TYPE_UINT64:
		case PROTOBUF_C_TYPE_FIXED64:
			if (!json_integer_of(j, f->type == PROTOBUF_C_TYPE_UINT64 ||
								 f->type == PROTOBUF_C_TYPE_FIXED64 ? 0 : LLONG_MIN,
								 LLONG_MAX, &n))
				return false;
			*(int64_t *) p = (int64_t) n;
			return true;
		case PROTOBUF_C_TYPE_FLOAT:
			if (!json_is_number(j))
				return false;
			*(float *) p = (float) json_number_value(j);
			return true;
		case PROTOBUF_C_TYPE_DOUBLE:
			if (!json_is_number(j))
				return false;
			*(double *) p = json_number_value(j);
			return true;
		case PROTOBUF_C_TYPE_BOOL:
			if (!json_is_boolean(j))
				return false;
			*(protobuf_c_boolean *) p = json_is_true(j);
			return true;
		case PROTOBUF_C_TYPE_ENUM:
			{
				const ProtobufCEnumValue *ev = json_is_string(j) ?
					protobuf_c_enum_descriptor_get_value_by_name(f->descriptor,
																 json_string_value(j)) : NULL;

				if (ev)
					*(int *) p = ev->value;
				else if (json_integer_of(j, INT32_MIN, INT32_MAX, &n))
					*(int *) p = (int) n;
				else
					return false;
				return true;
			}
		case PROTOBUF_C_TYPE_STRING:
			if (!json_is_string(j) ||
				(*(char **) p = strdup(json_string_value(j))) == NULL)
				return false;
			return true;
		case PROTOBUF_C_TYPE_MESSAGE:
			*(ProtobufCMessage **) p = json_to_message(f->descriptor, j, err, err_size);
			return *(ProtobufCMessage **) p != NULL;
		default:
			return false;
	}
}

static bool
json_to_field(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, json_t *j,
			  char *err, size_t err_size)
{
	char	   *m = MEMBER(msg, f->offset);
	size_t	   *count;
	char	   *base;
	size_t		i;

	if (f->label != PROTOBUF_C_LABEL_REPEATED)
	{
		/* the default string is shared: never freed, so never overwritten */
		if (f->type == PROTOBUF_C_TYPE_STRING)
			*(char **) m = NULL;
		if (!json_to_scalar(f, j, m, err, err_size))
			return false;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			*(uint32_t *) MEMBER(msg, f->quantifier_offset) = f->id;
		else if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
				 f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
			*(protobuf_c_boolean *) MEMBER(msg, f->quantifier_offset) = 1;
		return true;
	}
	if (!json_is_array(j))
		return false;
	count = (size_t *) MEMBER(msg, f->quantifier_offset);
	base = calloc(json_array_size(j) + 1, element_size(f->type));
	if (base == NULL)
		return false;
	*(char **) m = base;
	for (i = 0; i < json_array_size(j); i++)
	{
		if (!json_to_scalar(f, json_array_get(j, i), base + i * element_size(f->type),
							err, err_size))
			return false;
		*count = i + 1;
	}
	return true;
}

static ProtobufCMessage *
json_to_message(const ProtobufCMessageDescriptor *d, json_t *j, char *err,
				size_t err_size)
{
	ProtobufCMessage *msg;
	const char *key;
	json_t	   *v;

	if (is_type(d, "google.protobuf.Timestamp"))
	{
		Google__Protobuf__Timestamp *ts = new_message(d);

		if (ts && (!json_is_string(j) || !parse_timestamp(json_string_value(j), ts)))
		{
			snprintf(err, err_size, "not an RFC 3339 timestamp");
			free(ts);
			return NULL;
		}
		return ts ? &ts->base : NULL;
	}
	if (is_type(d, "google.protobuf.Struct"))
		return json_to_struct(j);
	if (is_type(d, "google.protobuf.Value"))
		return json_to_value(j);
	if (is_type(d, "google.protobuf.ListValue"))
		return json_to_list(j);
	if (!json_is_object(j) || (msg = new_message(d)) == NULL)
	{
		snprintf(err, err_size, "%s: not a JSON object", d->name);
		return NULL;
	}
	json_object_foreach(j, key, v)
	{
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field_by_name(d, key);

		if (f == NULL || json_is_null(v))
			continue;
		if (!json_to_field(msg, f, v, err, err_size))
		{
			if (err[0] == '\0')
				snprintf(err, err_size, "%s.%s: a value of the wrong type", d->name, key);
			protobuf_c_message_free_unpacked(msg, NULL);
			return NULL;
		}
	}
	return msg;
}

/*
 * A JSON answer as a message of the response type; NULL (with err) when it
 * does not fit. Free the result with pbjson_free.
 */
ProtobufCMessage *
pbjson_to_message(const ProtobufCMessageDescriptor *desc, json_t *value, char *err,
				  size_t err_size)
{
	if (err_size > 0)
		err[0] = '\0';
	return json_to_message(desc, value, err, err_size);
}

void
pbjson_free(ProtobufCMessage *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}
