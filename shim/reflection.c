/*
 * reflection.c
 *		gRPC server reflection (grpc.reflection.v1 and v1alpha), answered
 *		from the descriptors built into the binary.
 *
 * The Makefile has protoc write the FileDescriptorSet of the served .proto
 * files (proto/, with every import) and passes its path as
 * DESCRIPTORS_FILE; the assembler includes its bytes. So reflection serves
 * the true files, as protoc compiled them: rpc_update_user.proto with its
 * proto3 `optional` fields, not the C build's copy. Each file is answered
 * with the exact bytes protoc wrote for it, followed by its transitive
 * imports. The services listed are those of the RPC table, so what
 * reflection shows is what is served.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"

#ifndef DESCRIPTORS_FILE
#error "DESCRIPTORS_FILE must name the FileDescriptorSet of proto/"
#endif

__asm__(".section .rodata\n"
		".global pgbank_descriptors_start\n"
		"pgbank_descriptors_start:\n"
		".incbin \"" DESCRIPTORS_FILE "\"\n"
		"pgbank_descriptors_end:\n"
		".balign 8\n"
		".global pgbank_descriptors_size\n"
		"pgbank_descriptors_size:\n"
		".quad pgbank_descriptors_end - pgbank_descriptors_start\n"
		".previous\n");

extern const uint8_t pgbank_descriptors_start[];
extern const uint64_t pgbank_descriptors_size;

#define MAX_FILES 64
#define NOT_FOUND 5				/* the gRPC status code, in error_response */

typedef struct ProtoFile
{
	const uint8_t *data;		/* its FileDescriptorProto, as protoc wrote it */
	size_t		len;
	Google__Protobuf__FileDescriptorProto *fd;
} ProtoFile;

static ProtoFile files[MAX_FILES];
static int	nfiles;

static bool
read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	int			shift;

	*v = 0;
	for (shift = 0; shift < 64 && *p < end; shift += 7)
	{
		uint8_t		b = *(*p)++;

		*v |= (uint64_t) (b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return true;
	}
	return false;
}

/*
 * Split the FileDescriptorSet (repeated FileDescriptorProto file = 1) into
 * its files, keeping each one's bytes, and decode each for its names.
 */
int
reflection_init(void)
{
	const uint8_t *p = pgbank_descriptors_start;
	const uint8_t *end = p + pgbank_descriptors_size;
	uint64_t	key;
	uint64_t	len;

	while (p < end)
	{
		if (!read_varint(&p, end, &key) || key != ((1 << 3) | 2) ||
			!read_varint(&p, end, &len) || len > (uint64_t) (end - p) ||
			nfiles == MAX_FILES)
			return -1;
		files[nfiles].data = p;
		files[nfiles].len = (size_t) len;
		files[nfiles].fd = google__protobuf__file_descriptor_proto__unpack(NULL, (size_t) len, p);
		if (files[nfiles].fd == NULL)
			return -1;
		nfiles++;
		p += len;
	}
	return 0;
}

/* ----- lookups ----- */

static int
file_by_name(const char *name)
{
	int			i;

	for (i = 0; i < nfiles; i++)
	{
		if (strcmp(files[i].fd->name, name) == 0)
			return i;
	}
	return -1;
}

/* Whether symbol is prefix + "." + name (prefix may be empty). */
static bool
is_symbol(const char *symbol, const char *prefix, const char *name)
{
	size_t		n = strlen(prefix);

	if (n == 0)
		return strcmp(symbol, name) == 0;
	return strncmp(symbol, prefix, n) == 0 && symbol[n] == '.' &&
		strcmp(symbol + n + 1, name) == 0;
}

static bool
enums_define(Google__Protobuf__EnumDescriptorProto **e, size_t n, const char *scope,
			 const char *symbol)
{
	size_t		i;

	for (i = 0; i < n; i++)
	{
		if (is_symbol(symbol, scope, e[i]->name))
			return true;
	}
	return false;
}

/* Whether a message (or a message or enum nested in it) is the symbol. */
static bool
message_defines(const Google__Protobuf__DescriptorProto *m, const char *scope,
				const char *symbol)
{
	char		full[512];
	size_t		i;

	if (is_symbol(symbol, scope, m->name))
		return true;
	snprintf(full, sizeof(full), "%s%s%s", scope, scope[0] ? "." : "", m->name);
	if (strncmp(symbol, full, strlen(full)) != 0)
		return false;
	if (enums_define(m->enum_type, m->n_enum_type, full, symbol))
		return true;
	for (i = 0; i < m->n_field; i++)
	{
		if (is_symbol(symbol, full, m->field[i]->name))
			return true;
	}
	for (i = 0; i < m->n_nested_type; i++)
	{
		if (message_defines(m->nested_type[i], full, symbol))
			return true;
	}
	return false;
}

static bool
file_defines(const Google__Protobuf__FileDescriptorProto *fd, const char *symbol)
{
	const char *pkg = fd->package ? fd->package : "";
	char		full[512];
	size_t		i;
	size_t		k;

	for (i = 0; i < fd->n_message_type; i++)
	{
		if (message_defines(fd->message_type[i], pkg, symbol))
			return true;
	}
	if (enums_define(fd->enum_type, fd->n_enum_type, pkg, symbol))
		return true;
	for (i = 0; i < fd->n_service; i++)
	{
		const Google__Protobuf__ServiceDescriptorProto *s = fd->service[i];

		if (is_symbol(symbol, pkg, s->name))
			return true;
		snprintf(full, sizeof(full), "%s%s%s", pkg, pkg[0] ? "." : "", s->name);
		for (k = 0; k < s->n_method; k++)
		{
			if (is_symbol(symbol, full, s->method[k]->name))
				return true;
		}
	}
	return false;
}

static int
file_defining(const char *symbol)
{
	int			i;

	for (i = 0; i < nfiles; i++)
	{
		if (file_defines(files[i].fd, symbol))
			return i;
	}
	return -1;
}

/* The service of "/package.Service/Method", into buf. */
static const char *
service_of(const char *path, char *buf, size_t size)
{
	const char *slash = strchr(path + 1, '/');

	snprintf(buf, size, "%.*s", slash ? (int) (slash - path - 1) : 0, path + 1);
	return buf;
}

/* Whether the RPC table serves this service (grpc.health.v1.Health...). */
bool
reflection_has_service(const char *name)
{
	char		buf[256];
	int			i;

	for (i = 0; i < shim_nrpcs; i++)
	{
		if (strcmp(service_of(shim_rpcs[i].path, buf, sizeof(buf)), name) == 0)
			return true;
	}
	return false;
}

/* ----- answers ----- */

/* A file and, after it, its imports, each once, depth first. */
static void
add_with_imports(int f, bool *seen, ProtobufCBinaryData *out, size_t *n)
{
	size_t		i;

	if (f < 0 || seen[f])
		return;
	seen[f] = true;
	out[*n].data = (uint8_t *) files[f].data;
	out[*n].len = files[f].len;
	(*n)++;
	for (i = 0; i < files[f].fd->n_dependency; i++)
		add_with_imports(file_by_name(files[f].fd->dependency[i]), seen, out, n);
}

static void
answer_files(Grpc__Reflection__V1__ServerReflectionResponse *rsp,
			 Grpc__Reflection__V1__FileDescriptorResponse *fdr,
			 ProtobufCBinaryData *slots, int f)
{
	bool		seen[MAX_FILES] = {false};

	fdr->file_descriptor_proto = slots;
	add_with_imports(f, seen, slots, &fdr->n_file_descriptor_proto);
	rsp->message_response_case =
		GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
	rsp->file_descriptor_response = fdr;
}

static void
answer_not_found(Grpc__Reflection__V1__ServerReflectionResponse *rsp,
				 Grpc__Reflection__V1__ErrorResponse *err, const char *what)
{
	err->error_code = NOT_FOUND;
	err->error_message = (char *) what;
	rsp->message_response_case =
		GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
	rsp->error_response = err;
}

/* The distinct services of the RPC table, in table order. */
static size_t
served_services(char names[][256], size_t max)
{
	size_t		n = 0;
	size_t		k;
	int			i;

	for (i = 0; i < shim_nrpcs && n < max; i++)
	{
		service_of(shim_rpcs[i].path, names[n], sizeof(names[n]));
		for (k = 0; k < n && strcmp(names[k], names[n]) != 0; k++)
			;
		if (k == n)
			n++;
	}
	return n;
}

/*
 * One request of the reflection stream, answered: *out is the packed
 * ServerReflectionResponse (malloc'd). False when the request is not a
 * ServerReflectionRequest (the caller answers INVALID_ARGUMENT).
 */
bool
reflection_answer(const uint8_t *data, size_t len, uint8_t **out, size_t *out_len)
{
	Grpc__Reflection__V1__ServerReflectionRequest *req;
	Grpc__Reflection__V1__ServerReflectionResponse rsp =
		GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
	Grpc__Reflection__V1__FileDescriptorResponse fdr =
		GRPC__REFLECTION__V1__FILE_DESCRIPTOR_RESPONSE__INIT;
	Grpc__Reflection__V1__ListServiceResponse lsr =
		GRPC__REFLECTION__V1__LIST_SERVICE_RESPONSE__INIT;
	Grpc__Reflection__V1__ExtensionNumberResponse enr =
		GRPC__REFLECTION__V1__EXTENSION_NUMBER_RESPONSE__INIT;
	Grpc__Reflection__V1__ErrorResponse err = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
	Grpc__Reflection__V1__ServiceResponse services[MAX_FILES];
	Grpc__Reflection__V1__ServiceResponse *service_ptrs[MAX_FILES];
	char		names[MAX_FILES][256];
	ProtobufCBinaryData slots[MAX_FILES];
	size_t		i;
	int			f;

	req = grpc__reflection__v1__server_reflection_request__unpack(NULL, len, data);
	if (req == NULL)
		return false;
	rsp.valid_host = req->host;
	rsp.original_request = req;
	switch (req->message_request_case)
	{
		case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
			if ((f = file_by_name(req->file_by_filename)) >= 0)
				answer_files(&rsp, &fdr, slots, f);
			else
				answer_not_found(&rsp, &err, "file not found");
			break;
		case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
			if ((f = file_defining(req->file_containing_symbol)) >= 0)
				answer_files(&rsp, &fdr, slots, f);
			else
				answer_not_found(&rsp, &err, "symbol not found");
			break;
		case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
			/* no file declares an extension: a known type has none */
			if (file_defining(req->all_extension_numbers_of_type) < 0)
			{
				answer_not_found(&rsp, &err, "type not found");
				break;
			}
			enr.base_type_name = req->all_extension_numbers_of_type;
			rsp.message_response_case =
				GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
			rsp.all_extension_numbers_response = &enr;
			break;
		case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
			lsr.n_service = served_services(names, MAX_FILES);
			for (i = 0; i < lsr.n_service; i++)
			{
				grpc__reflection__v1__service_response__init(&services[i]);
				services[i].name = names[i];
				service_ptrs[i] = &services[i];
			}
			lsr.service = service_ptrs;
			rsp.message_response_case =
				GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
			rsp.list_services_response = &lsr;
			break;
		default:
			answer_not_found(&rsp, &err, "extension not found");
			break;
	}
	*out_len = protobuf_c_message_get_packed_size(&rsp.base);
	*out = malloc(*out_len ? *out_len : 1);
	if (*out)
		protobuf_c_message_pack(&rsp.base, *out);
	grpc__reflection__v1__server_reflection_request__free_unpacked(req, NULL);
	return *out != NULL;
}
