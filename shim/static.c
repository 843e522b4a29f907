/*
 * static.c
 *		The web app's files (PGBANK_WEB_ROOT) and Swagger UI's
 *		(PGBANK_SWAGGER_ROOT), for GET and HEAD of a path no route serves.
 *
 * /x/y is PGBANK_WEB_ROOT/x/y; /swagger/y is PGBANK_WEB_ROOT/swagger/y
 * when the web app has it (its index.html and initializer: ours), else
 * PGBANK_SWAGGER_ROOT/y (swagger-ui-dist's files, fetched by
 * scripts/swagger-ui.sh); a path ending in / is its index.html, /swagger
 * redirects to /swagger/. A path is served only when every segment is
 * made of [A-Za-z0-9._-] and starts with none of "." (so no "..", no
 * hidden file), and the file, symbolic links resolved, is a regular file
 * under its root: no traversal. Anything else is 404.
 *
 * Caching: a strong ETag from the file's size and modification time; an
 * If-None-Match that lists it gets 304. The web app's files are revalidated
 * each time (no-cache: no build step fingerprints their names); Swagger
 * UI's are of one pinned version and kept for a day.
 *
 * Every answer of the shim carries static_security_headers: a
 * Content-Security-Policy the pages satisfy (only this origin's scripts,
 * styles, images and connections; no inline script or style, no plugin,
 * no framing), X-Content-Type-Options: nosniff and a same-origin
 * Referrer-Policy.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "shim.h"

#define SWAGGER_PREFIX "/swagger/"

static const char content_security_policy[] =
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; "
	"base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

static const struct
{
	const char *ext;
	const char *type;
}			content_types[] = {
	{".html", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".mjs", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".json", "application/json"},
	{".map", "application/json"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
	{".txt", "text/plain; charset=utf-8"},
	{".md", "text/plain; charset=utf-8"},
	{".webmanifest", "application/manifest+json"},
};

void
static_security_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Content-Security-Policy", content_security_policy);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
}

static const char *
content_type_of(const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t		i;

	if (dot && strchr(dot, '/') == NULL)
	{
		for (i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++)
			if (strcasecmp(dot, content_types[i].ext) == 0)
				return content_types[i].type;
	}
	return "application/octet-stream";
}

/* Every segment [A-Za-z0-9._-]+ not starting with '.'; "" is the index. */
static bool
relative_path_ok(const char *rel)
{
	const char *p = rel;

	if (strlen(rel) > 512)
		return false;
	while (*p)
	{
		size_t		n = strcspn(p, "/");

		if (n == 0 || p[0] == '.' ||
			strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				   "0123456789._-") != n)
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

/*
 * Open root/rel ("" or a trailing / meaning its index.html) if it is a
 * regular file under root once links are resolved: its descriptor, or -1.
 */
static int
open_under(const char *root, const char *rel, struct stat *st, char *name, size_t name_size)
{
	char		joined[PATH_MAX];
	char		real_root[PATH_MAX];
	char		real_file[PATH_MAX];
	size_t		rlen;
	int			fd;
	int			n;

	if (root == NULL || root[0] == '\0')
		return -1;
	n = snprintf(joined, sizeof(joined), "%s/%s%s", root, rel,
				 rel[0] == '\0' || rel[strlen(rel) - 1] == '/' ? "index.html" : "");
	if (n < 0 || (size_t) n >= sizeof(joined))
		return -1;
	if (realpath(root, real_root) == NULL || realpath(joined, real_file) == NULL)
		return -1;
	rlen = strlen(real_root);
	if (strncmp(real_file, real_root, rlen) != 0 || real_file[rlen] != '/')
		return -1;
	fd = open(real_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode))
	{
		close(fd);
		return -1;
	}
	snprintf(name, name_size, "%s", real_file);
	return fd;
}

/* Whether If-None-Match lists the ETag (or is "*"). */
static bool
etag_matches(struct MHD_Connection *conn, const char *etag)
{
	const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");

	if (inm == NULL)
		return false;
	return strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL;
}

static struct MHD_Response *
empty_response(void)
{
	return MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
}

/*
 * The answer for a path: a file (200 or 304), the /swagger redirect (301),
 * or false when there is nothing to serve there (the caller answers 404).
 */
bool
static_serve(struct MHD_Connection *conn, const char *path, StaticAnswer *out)
{
	const char *cache;
	char		name[PATH_MAX];
	char		etag[64];
	struct stat st;
	int			fd = -1;

	out->status = 404;
	out->response = NULL;
	if (strcmp(path, "/swagger") == 0)
	{
		out->response = empty_response();
		if (out->response == NULL)
			return false;
		MHD_add_response_header(out->response, "Location", SWAGGER_PREFIX);
		out->status = 301;
		return true;
	}
	if (path[0] != '/' || !relative_path_ok(path + 1))
		return false;
	cache = "no-cache";
	fd = open_under(shim_config.web_root, path + 1, &st, name, sizeof(name));
	if (fd < 0 && strncmp(path, SWAGGER_PREFIX, strlen(SWAGGER_PREFIX)) == 0)
	{
		fd = open_under(shim_config.swagger_root, path + strlen(SWAGGER_PREFIX),
						&st, name, sizeof(name));
		cache = "public, max-age=86400";
	}
	if (fd < 0)
		return false;
	snprintf(etag, sizeof(etag), "\"%llx-%llx-%lx\"", (unsigned long long) st.st_size,
			 (unsigned long long) st.st_mtim.tv_sec, (long) st.st_mtim.tv_nsec);
	if (etag_matches(conn, etag))
	{
		close(fd);
		out->response = empty_response();
		out->status = 304;
	}
	else
	{
		out->response = MHD_create_response_from_fd64((uint64_t) st.st_size, fd);
		if (out->response == NULL)
			close(fd);
		out->status = 200;
	}
	if (out->response == NULL)
		return false;
	if (out->status == 200)
		MHD_add_response_header(out->response, "Content-Type", content_type_of(name));
	MHD_add_response_header(out->response, "ETag", etag);
	MHD_add_response_header(out->response, "Cache-Control", cache);
	return true;
}
