/*
 * json_fields.c
 *		Collect chosen top-level fields of a JSON object with PostgreSQL's
 *		JSON parser (common/jsonapi.h).
 *
 * Callers decide what a field must be (its type, and usually that it appears
 * exactly once); this reads every top-level field once, counts the chosen
 * ones, and keeps their values when they have the chosen type. Field names
 * and strings are de-escaped, so "\u0061lg" is "alg". Nested objects and
 * arrays are skipped, except the elements of a STRING_ARRAY field's value.
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "json_fields.h"

typedef struct FieldsState
{
	JsonField  *fields;
	int			nfields;
	int			depth;			/* 1 inside the top-level object */
	bool		top_is_object;
	JsonField  *current;		/* the chosen field whose value is read */
	bool		in_array;		/* inside current's array value */
} FieldsState;

/* An object or array at depth: the top, a value, or inside one. */
static void
fields_nest_start(FieldsState *s, bool is_array)
{
	if (s->depth == 0)
		s->top_is_object = !is_array;
	else if (s->depth == 1 && s->current != NULL)
	{
		s->in_array = is_array && s->current->type == JSON_FIELD_STRING_ARRAY;
		s->current->ok = s->in_array || s->current->type == JSON_FIELD_ANY;
	}
	else if (s->depth == 2 && s->in_array)
		s->current->ok = false; /* an element that is not a string */
	s->depth++;
}

static void
fields_object_start(void *state)
{
	fields_nest_start((FieldsState *) state, false);
}

static void
fields_array_start(void *state)
{
	fields_nest_start((FieldsState *) state, true);
}

static void
fields_nest_end(void *state)
{
	FieldsState *s = (FieldsState *) state;

	s->depth--;
	if (s->depth == 1)
		s->in_array = false;
}

static void
fields_field_start(void *state, char *fname, bool isnull)
{
	FieldsState *s = (FieldsState *) state;
	int			i;

	if (s->depth != 1)
		return;
	s->current = NULL;
	for (i = 0; i < s->nfields; i++)
	{
		if (strcmp(fname, s->fields[i].name) == 0)
		{
			s->current = &s->fields[i];
			s->current->count++;
			s->current->ok = s->current->type == JSON_FIELD_ANY;
			s->current->value = NULL;
			s->current->strings = NIL;
			break;
		}
	}
}

static void
fields_scalar(void *state, char *token, JsonTokenType type)
{
	FieldsState *s = (FieldsState *) state;
	JsonField  *f = s->current;

	if (f == NULL)
		return;
	if (s->depth == 2 && s->in_array)
	{
		if (type == JSON_TOKEN_STRING)
			f->strings = lappend(f->strings, token);
		else
			f->ok = false;
	}
	else if (s->depth == 1)
	{
		f->ok = f->type == JSON_FIELD_ANY ||
			(f->type == JSON_FIELD_STRING && type == JSON_TOKEN_STRING) ||
			(f->type == JSON_FIELD_NUMBER && type == JSON_TOKEN_NUMBER);
		if (f->ok)
			f->value = token;
	}
}

bool
pgbank_json_fields(char *json, size_t len, JsonField *fields, int nfields)
{
	FieldsState state;
	JsonSemAction sem;
	JsonLexContext *lex;
	int			i;

	memset(&state, 0, sizeof(state));
	memset(&sem, 0, sizeof(sem));
	for (i = 0; i < nfields; i++)
	{
		fields[i].count = 0;
		fields[i].ok = false;
		fields[i].value = NULL;
		fields[i].strings = NIL;
	}
	state.fields = fields;
	state.nfields = nfields;
	sem.semstate = &state;
	sem.object_start = fields_object_start;
	sem.object_end = fields_nest_end;
	sem.array_start = fields_array_start;
	sem.array_end = fields_nest_end;
	sem.object_field_start = fields_field_start;
	sem.scalar = fields_scalar;
	lex = makeJsonLexContextCstringLen(json, (int) len, GetDatabaseEncoding(), true);
	return pg_parse_json(lex, &sem) == JSON_SUCCESS && state.top_is_object;
}
