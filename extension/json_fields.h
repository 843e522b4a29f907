/*
 * json_fields.h
 *		Collect chosen top-level fields of a JSON object: what a JWT header,
 *		a JWT's claims and a token payload are checked by.
 */
#ifndef PGBANK_JSON_FIELDS_H
#define PGBANK_JSON_FIELDS_H

#include "postgres.h"

#include "nodes/pg_list.h"

/* The type a field's value must have to be kept. */
typedef enum JsonFieldType
{
	JSON_FIELD_ANY,				/* only counted */
	JSON_FIELD_STRING,
	JSON_FIELD_NUMBER,
	JSON_FIELD_STRING_ARRAY		/* an array of strings only */
} JsonFieldType;

typedef struct JsonField
{
	const char *name;			/* set by the caller */
	JsonFieldType type;			/* set by the caller */
	int			count;			/* how many times the object has the field */
	bool		ok;				/* its (last) value has the type */
	char	   *value;			/* STRING, NUMBER: the value's text, if ok */
	List	   *strings;		/* STRING_ARRAY: the elements (char *), if ok */
} JsonField;

/*
 * Parse json, which must be an object, and fill in fields[0..nfields).
 * False when it is not valid JSON or not an object.
 */
extern bool pgbank_json_fields(char *json, size_t len, JsonField *fields,
							   int nfields);

#endif							/* PGBANK_JSON_FIELDS_H */
