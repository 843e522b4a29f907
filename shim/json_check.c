/*
 * json_check.c
 *		UTF-8 and JSON checks of client text (json_check.h).
 *
 * A recursive-descent reader that builds nothing: it only says whether
 * the text is JSON that PostgreSQL's json input accepts and that every
 * later conversion (to text, to jsonb) accepts too. Its recursion is
 * bounded by JSON_MAX_DEPTH, which is the point of the depth check: the
 * server's own parser recurses as well, and past max_stack_depth it
 * answers 54001, a server error whose hint names a server setting.
 */
#include <stdint.h>
#include <string.h>

#include "json_check.h"

#define STRINGIFY(x) #x
#define AS_STRING(x) STRINGIFY(x)

typedef struct JsonReader
{
	const unsigned char *p;
	const unsigned char *start;
	const unsigned char *end;
	int			depth;
	JsonCheckResult error;
	size_t		error_offset;
} JsonReader;

/*
 * The length of the UTF-8 sequence at s (1 to 4), or 0 when it is not a
 * valid one: overlong forms, surrogates, past U+10FFFF and NUL (which no
 * PostgreSQL text can hold) are refused.
 */
static size_t
utf8_sequence(const unsigned char *s, const unsigned char *end)
{
	unsigned char c = s[0];
	uint32_t	cp;
	size_t		n;
	size_t		i;

	if (c < 0x80)
		return c == 0 ? 0 : 1;
	if (c >= 0xC2 && c <= 0xDF)
	{
		n = 2;
		cp = c & 0x1F;
	}
	else if (c >= 0xE0 && c <= 0xEF)
	{
		n = 3;
		cp = c & 0x0F;
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		n = 4;
		cp = c & 0x07;
	}
	else
		return 0;
	if ((size_t) (end - s) < n)
		return 0;
	for (i = 1; i < n; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		(cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

bool
utf8_valid(const char *s, size_t len, size_t *bad_offset)
{
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + len;

	while (p < end)
	{
		size_t		n = utf8_sequence(p, end);

		if (n == 0)
		{
			if (bad_offset)
				*bad_offset = (size_t) (p - (const unsigned char *) s);
			return false;
		}
		p += n;
	}
	return true;
}

/* ----- the reader ----- */

static bool
fail(JsonReader *r, JsonCheckResult error)
{
	if (r->error == JSON_CHECK_OK)
	{
		r->error = error;
		r->error_offset = (size_t) (r->p - r->start);
	}
	return false;
}

static void
skip_space(JsonReader *r)
{
	while (r->p < r->end &&
		   (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool
is_digit(JsonReader *r)
{
	return r->p < r->end && *r->p >= '0' && *r->p <= '9';
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static bool
read_number(JsonReader *r)
{
	if (*r->p == '-')
		r->p++;
	if (!is_digit(r))
		return fail(r, JSON_CHECK_SYNTAX);
	if (*r->p++ != '0')
		while (is_digit(r))
			r->p++;
	if (r->p < r->end && *r->p == '.')
	{
		r->p++;
		if (!is_digit(r))
			return fail(r, JSON_CHECK_SYNTAX);
		while (is_digit(r))
			r->p++;
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E'))
	{
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (!is_digit(r))
			return fail(r, JSON_CHECK_SYNTAX);
		while (is_digit(r))
			r->p++;
	}
	return true;
}

/* The four hex digits of a \u escape, as a code unit; -1 if malformed. */
static long
read_hex4(JsonReader *r)
{
	long		unit = 0;
	int			i;

	if (r->end - r->p < 4)
		return -1;
	for (i = 0; i < 4; i++)
	{
		unsigned char c = *r->p++;

		unit <<= 4;
		if (c >= '0' && c <= '9')
			unit |= c - '0';
		else if (c >= 'a' && c <= 'f')
			unit |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			unit |= c - 'A' + 10;
		else
			return -1;
	}
	return unit;
}

/*
 * After a backslash. A high surrogate must be followed at once by a low
 * one, and a low one must follow a high one, as PostgreSQL requires.
 */
static bool
read_escape(JsonReader *r, bool *high_pending)
{
	long		unit;

	if (r->p >= r->end)
		return fail(r, JSON_CHECK_SYNTAX);
	if (*r->p != 'u')
	{
		if (*high_pending || strchr("\"\\/bfnrt", *r->p) == NULL || *r->p == '\0')
			return fail(r, JSON_CHECK_SYNTAX);
		r->p++;
		return true;
	}
	r->p++;
	unit = read_hex4(r);
	if (unit < 0)
		return fail(r, JSON_CHECK_SYNTAX);
	if (unit == 0)
		return fail(r, JSON_CHECK_NUL_ESCAPE);
	if (unit >= 0xD800 && unit <= 0xDBFF)
	{
		if (*high_pending)
			return fail(r, JSON_CHECK_SYNTAX);
		*high_pending = true;
	}
	else if (unit >= 0xDC00 && unit <= 0xDFFF)
	{
		if (!*high_pending)
			return fail(r, JSON_CHECK_SYNTAX);
		*high_pending = false;
	}
	else if (*high_pending)
		return fail(r, JSON_CHECK_SYNTAX);
	return true;
}

/* After the opening quote; the text is known to be UTF-8 already. */
static bool
read_string(JsonReader *r)
{
	bool		high_pending = false;

	while (r->p < r->end)
	{
		unsigned char c = *r->p;

		if (c == '"')
		{
			if (high_pending)
				return fail(r, JSON_CHECK_SYNTAX);
			r->p++;
			return true;
		}
		if (c < 0x20)
			return fail(r, JSON_CHECK_SYNTAX);	/* must be escaped */
		if (high_pending && c != '\\')
			return fail(r, JSON_CHECK_SYNTAX);
		r->p++;
		if (c == '\\' && !read_escape(r, &high_pending))
			return false;
	}
	return fail(r, JSON_CHECK_SYNTAX);
}

static bool
read_literal(JsonReader *r, const char *word)
{
	size_t		n = strlen(word);

	if ((size_t) (r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return fail(r, JSON_CHECK_SYNTAX);
	r->p += n;
	return true;
}

static bool read_value(JsonReader *r);

/* After '[' or '{': members up to the closing bracket. */
static bool
read_container(JsonReader *r, unsigned char close)
{
	if (++r->depth > JSON_MAX_DEPTH)
		return fail(r, JSON_CHECK_TOO_DEEP);
	skip_space(r);
	if (r->p < r->end && *r->p == close)
	{
		r->p++;
		r->depth--;
		return true;
	}
	for (;;)
	{
		skip_space(r);
		if (close == '}')
		{
			if (r->p >= r->end || *r->p != '"')
				return fail(r, JSON_CHECK_SYNTAX);
			r->p++;
			if (!read_string(r))
				return false;
			skip_space(r);
			if (r->p >= r->end || *r->p != ':')
				return fail(r, JSON_CHECK_SYNTAX);
			r->p++;
		}
		if (!read_value(r))
			return false;
		skip_space(r);
		if (r->p < r->end && *r->p == ',')
		{
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == close)
		{
			r->p++;
			r->depth--;
			return true;
		}
		return fail(r, JSON_CHECK_SYNTAX);
	}
}

static bool
read_value(JsonReader *r)
{
	skip_space(r);
	if (r->p >= r->end)
		return fail(r, JSON_CHECK_SYNTAX);
	switch (*r->p)
	{
		case '{':
			r->p++;
			return read_container(r, '}');
		case '[':
			r->p++;
			return read_container(r, ']');
		case '"':
			r->p++;
			return read_string(r);
		case 't':
			return read_literal(r, "true");
		case 'f':
			return read_literal(r, "false");
		case 'n':
			return read_literal(r, "null");
		default:
			if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
				return read_number(r);
			return fail(r, JSON_CHECK_SYNTAX);
	}
}

JsonCheckResult
json_check(const char *text, size_t len, size_t *offset)
{
	JsonReader	r;

	if (!utf8_valid(text, len, offset))
		return JSON_CHECK_BAD_UTF8;
	r.start = r.p = (const unsigned char *) text;
	r.end = r.start + len;
	r.depth = 0;
	r.error = JSON_CHECK_OK;
	r.error_offset = 0;
	if (read_value(&r))
	{
		skip_space(&r);
		if (r.p != r.end)
			fail(&r, JSON_CHECK_SYNTAX);
	}
	if (r.error != JSON_CHECK_OK && offset)
		*offset = r.error_offset;
	return r.error;
}

const char *
json_check_sqlstate(JsonCheckResult r)
{
	switch (r)
	{
		case JSON_CHECK_OK:
			return "00000";
		case JSON_CHECK_BAD_UTF8:
			return "22021";
		case JSON_CHECK_SYNTAX:
			return "22P02";
		case JSON_CHECK_NUL_ESCAPE:
			return "22P05";
		case JSON_CHECK_TOO_DEEP:
			return "22023";
	}
	return "22P02";
}

const char *
json_check_message(JsonCheckResult r)
{
	switch (r)
	{
		case JSON_CHECK_OK:
			return "valid";
		case JSON_CHECK_BAD_UTF8:
			return "not valid UTF-8";
		case JSON_CHECK_SYNTAX:
			return "not valid JSON";
		case JSON_CHECK_NUL_ESCAPE:
			return "\\u0000 is not allowed in a JSON string";
		case JSON_CHECK_TOO_DEEP:
			return "JSON nested more than " AS_STRING(JSON_MAX_DEPTH) " levels deep";
	}
	return "not valid JSON";
}
