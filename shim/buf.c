/*
 * buf.c
 *		Growable strings with an upper bound, and JSON string escaping.
 *
 * Every buffer the shim fills from outside input (request bodies, error
 * bodies, the metrics page) has a limit; an append past it is refused and
 * remembered, so callers check once at the end.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_check.h"
#include "shim.h"

void
buf_init(StrBuf *b, size_t limit)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->limit = limit;
	b->overflow = false;
}

static bool
buf_reserve(StrBuf *b, size_t extra)
{
	size_t		need = b->len + extra + 1;
	size_t		cap;
	char	   *data;

	if (b->len + extra > b->limit)
	{
		b->overflow = true;
		return false;
	}
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	data = realloc(b->data, cap);
	if (data == NULL)
	{
		b->overflow = true;
		return false;
	}
	b->data = data;
	b->cap = cap;
	return true;
}

bool
buf_append(StrBuf *b, const char *s, size_t n)
{
	if (!buf_reserve(b, n))
		return false;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return true;
}

bool
buf_puts(StrBuf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

bool
buf_printf(StrBuf *b, const char *fmt,...)
{
	va_list		ap;
	char		small[512];
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t) n >= sizeof(small))
	{
		b->overflow = true;
		return false;
	}
	return buf_append(b, small, (size_t) n);
}

/* The length of a UTF-8 sequence starting with byte c, from its lead. */
static size_t
utf8_lead_length(unsigned char c)
{
	return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/*
 * Append s as a JSON string (with quotes); NULL becomes null. Control
 * characters are escaped; a byte that does not start valid UTF-8 (a
 * client's path in a log line) becomes U+FFFD, so the output stays JSON.
 */
bool
buf_json_string(StrBuf *b, const char *s)
{
	const unsigned char *p;
	char		esc[8];

	if (s == NULL)
		return buf_puts(b, "null");
	buf_append(b, "\"", 1);
	for (p = (const unsigned char *) s; *p; p++)
	{
		if (*p == '"' || *p == '\\')
		{
			esc[0] = '\\';
			esc[1] = (char) *p;
			buf_append(b, esc, 2);
		}
		else if (*p == '\n')
			buf_append(b, "\\n", 2);
		else if (*p == '\t')
			buf_append(b, "\\t", 2);
		else if (*p == '\r')
			buf_append(b, "\\r", 2);
		else if (*p < 0x20 || *p == 0x7f)
		{
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			buf_append(b, esc, 6);
		}
		else if (*p < 0x80)
			buf_append(b, (const char *) p, 1);
		else
		{
			size_t		n = utf8_lead_length(*p);

			if (strnlen((const char *) p, n) == n && utf8_valid((const char *) p, n, NULL))
			{
				buf_append(b, (const char *) p, n);
				p += n - 1;
			}
			else
				buf_append(b, "\xEF\xBF\xBD", 3);
		}
	}
	return buf_append(b, "\"", 1);
}

void
buf_free(StrBuf *b)
{
	free(b->data);
	buf_init(b, b->limit);
}
