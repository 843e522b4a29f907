# pgbank: PGXS build of the extension, plus the HTTP shim and the project's
# two entry points (`make run`, `make test`).

EXTENSION = pgbank
# The version being built is the control file's default_version.
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'$$/\1/p" pgbank.control)

MODULE_big = pgbank
OBJS = \
	extension/pgbank.o \
	extension/errors.o \
	extension/spi_plans.o \
	extension/secret.o \
	extension/base64url.o \
	extension/json_fields.o \
	extension/request.o \
	extension/ledger.o \
	extension/ledger_0_1.o \
	extension/ledger_rows.o \
	extension/batch.o \
	extension/holds.o \
	extension/password.o \
	extension/paseto.o \
	extension/jwt.o \
	extension/token.o \
	extension/throttle.o \
	extension/email.o \
	extension/outbox.o \
	extension/outbox_wake.o \
	extension/games.o
SHLIB_LINK = -lsodium -lcurl -lcrypt

# Released scripts are frozen in sql/ and never change. The unreleased
# version's are built into build/ by scripts/sqlbuild.py: its install script
# from the fragments of sql/src (one per concern, in file-name order), and
# each upgrade to it from a hand-written migration in sql/upgrade plus the
# fragments' functions (docs/upgrading.md).
# The error codes' one table, sql/errcodes.txt, gives the SQL lookup
# pgbank.errcode() (the first fragment), the C macros and the shim's table.
SQL_SOURCES = build/errcodes.sql $(sort $(wildcard sql/src/*.sql))
SQL_MIGRATIONS = $(sort $(wildcard sql/upgrade/$(EXTENSION)--*--$(EXTVERSION).sql))
DATA_built = build/$(EXTENSION)--$(EXTVERSION).sql \
	$(patsubst sql/upgrade/%,build/%,$(SQL_MIGRATIONS))
DATA = $(wildcard sql/$(EXTENSION)--*.sql)

# Where run-time state lives (cluster, test output); ignored by git.
RUNDIR ?= $(CURDIR)/.run

# The settings every server has, then the tests' own (pg_regress reads
# each --temp-config in turn: a later setting wins).
TEMP_CONFIG = --temp-config=config/pgbank.conf --temp-config=regress/regress.conf

TESTS = $(sort $(wildcard regress/sql/*.sql))
REGRESS = $(patsubst regress/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=regress --outputdir=$(RUNDIR)/regress \
	--temp-instance=$(RUNDIR)/tmp_check $(TEMP_CONFIG)

# Interleavings of sessions (lock order, idempotency races).
ISOLATION = $(patsubst regress/specs/%.spec,%,$(sort $(wildcard regress/specs/*.spec)))
ISOLATION_OPTS = --inputdir=regress --outputdir=$(RUNDIR)/isolation \
	--temp-instance=$(RUNDIR)/tmp_check_iso $(TEMP_CONFIG)

WERROR ?= -Werror
PG_CPPFLAGS += -Ibuild
PG_CFLAGS += -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers $(WERROR)

# The shim's binaries (their rules are below); set before PGXS, which tests it.
EXTRA_CLEAN = shim/pgbank-http shim/pgbank-http-asan build/pb build/descriptors.pb build/managed

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

build/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_SOURCES) scripts/sqlbuild.py | build
	python3 scripts/sqlbuild.py install $(EXTVERSION) $(SQL_SOURCES) > $@.tmp && mv $@.tmp $@
build/$(EXTENSION)--%--$(EXTVERSION).sql: sql/upgrade/$(EXTENSION)--%--$(EXTVERSION).sql \
		$(SQL_SOURCES) scripts/sqlbuild.py | build
	python3 scripts/sqlbuild.py upgrade $* $(EXTVERSION) $< $(SQL_SOURCES) > $@.tmp && mv $@.tmp $@
build:
	mkdir -p $@

# The managed build (docs/managed.md): the same fragments with each
# LANGUAGE C routine replaced by its SQL twin of sql/managed, for servers
# that cannot load pgbank.so (RDS, Aurora, Cloud SQL). `make managed`
# writes build/managed/ (install script and control file);
# `make managed-install` copies them into $(PG_CONFIG)'s extension
# directory without pgbank.so; `make pgtle` writes the pg_tle payload.
MANAGED_SOURCES = $(sort $(wildcard sql/managed/*.sql))
MANAGED_DIR = build/managed
.PHONY: managed managed-install pgtle
managed: $(MANAGED_DIR)/$(EXTENSION)--$(EXTVERSION).sql $(MANAGED_DIR)/$(EXTENSION).control
$(MANAGED_DIR)/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_SOURCES) $(MANAGED_SOURCES) scripts/sqlbuild.py scripts/gucs.py $(wildcard extension/*.c)
	mkdir -p $(MANAGED_DIR)
	python3 scripts/sqlbuild.py managed $(EXTVERSION) $(MANAGED_SOURCES) -- $(SQL_SOURCES) > $@.tmp && mv $@.tmp $@
# The control file without module_pathname: trusted (a database owner may
# create it, as on RDS), requiring pgcrypto.
$(MANAGED_DIR)/$(EXTENSION).control: $(EXTENSION).control
	mkdir -p $(MANAGED_DIR)
	sed -e '/^module_pathname/d' -e 's/^superuser = .*/superuser = false\ntrusted = true\nrequires = '"'"'pgcrypto'"'"'/' \
		-e "s/^comment = '\(.*\)'/comment = '\1 (managed build: no C)'/" $< > $@.tmp && mv $@.tmp $@
# The pg_tle payload (docs/managed.md): the managed install script in one
# pgtle.install_extension call, for RDS and Aurora.
pgtle: $(MANAGED_DIR)/$(EXTENSION)--$(EXTVERSION).pgtle.sql
$(MANAGED_DIR)/$(EXTENSION)--$(EXTVERSION).pgtle.sql: $(MANAGED_DIR)/$(EXTENSION)--$(EXTVERSION).sql \
		$(MANAGED_DIR)/$(EXTENSION).control scripts/sqlbuild.py
	python3 scripts/sqlbuild.py pgtle $(EXTVERSION) \
		"$$(sed -n "s/^comment = '\(.*\)'$$/\1/p" $(MANAGED_DIR)/$(EXTENSION).control)" \
		"$$(sed -n "s/^requires = '\(.*\)'$$/\1/p" $(MANAGED_DIR)/$(EXTENSION).control)" $< > $@.tmp && mv $@.tmp $@
managed-install: managed
	$(INSTALL_DATA) $(MANAGED_DIR)/$(EXTENSION).control $(MANAGED_DIR)/$(EXTENSION)--$(EXTVERSION).sql \
		'$(DESTDIR)$(datadir)/extension/'
ERRCODES = sql/errcodes.txt scripts/errcodes.py
build/errcodes.sql: $(ERRCODES) | build
	python3 scripts/errcodes.py sql > $@.tmp && mv $@.tmp $@
build/errcodes.h: $(ERRCODES) | build
	python3 scripts/errcodes.py header > $@.tmp && mv $@.tmp $@
build/errcodes.c: $(ERRCODES) | build
	python3 scripts/errcodes.py shim > $@.tmp && mv $@.tmp $@
$(OBJS) $(OBJS:.o=.bc): build/errcodes.h

# The HTTP and gRPC shim (shim/): a plain program, built with every
# warning an error. docs/openapi.json is built into it (shim/openapi_doc.c),
# and so is the FileDescriptorSet of the served .proto files, for server
# reflection (shim/reflection.c). The messages' C code is generated by
# protoc-c into build/pb from proto/ (shim/proto-c first: its copy of
# rpc_update_user.proto, which protoc-c can compile), the well-known types
# and Debian's grpc-proto (health, reflection).
PROTO_INCLUDE = /usr/include
GRPC_PROTO = /usr/share/grpc-proto
PROTO_FILES = $(sort $(shell find proto -name '*.proto')) $(wildcard shim/proto-c/*.proto)
# the files the shim serves, each with its imports
SERVED_PROTOS = service_simple_bank.proto pgbank/v1/bank.proto \
	grpc/health/v1/health.proto grpc/reflection/v1/reflection.proto \
	grpc/reflection/v1alpha/reflection.proto
# the files whose C code the shim uses
PB_C_PROTOS = user.proto rpc_create_user.proto rpc_login_user.proto \
	rpc_update_user.proto rpc_verify_email.proto pgbank/v1/bank.proto \
	google/rpc/status.proto google/rpc/error_details.proto \
	google/protobuf/timestamp.proto google/protobuf/struct.proto \
	google/protobuf/any.proto google/protobuf/descriptor.proto \
	grpc/health/v1/health.proto grpc/reflection/v1/reflection.proto
PB_C_SOURCES = $(patsubst %.proto,build/pb/%.pb-c.c,$(PB_C_PROTOS))

build/pb/stamp: $(PROTO_FILES) | build
	rm -rf build/pb && mkdir -p build/pb
	protoc-c --c_out=build/pb -Ishim/proto-c -Iproto -I$(PROTO_INCLUDE) -I$(GRPC_PROTO) $(PB_C_PROTOS)
	touch $@
$(PB_C_SOURCES): build/pb/stamp
build/descriptors.pb: $(PROTO_FILES) | build
	protoc --include_imports --descriptor_set_out=$@ -Iproto -I$(PROTO_INCLUDE) -I$(GRPC_PROTO) \
		$(SERVED_PROTOS)

# swagger-ui-dist's files, fetched by scripts/swagger-ui.sh (never committed)
SWAGGER_UI_DIR = build/swagger-ui
SHIM_SOURCES = $(sort $(wildcard shim/*.c)) build/errcodes.c
SHIM_HEADERS = $(sort $(wildcard shim/*.h))
SHIM_CFLAGS = -std=gnu11 -O2 -g -pthread -Wall -Wextra -Werror -Wno-unused-parameter \
	-I$(shell $(PG_CONFIG) --includedir) -Ishim -Ibuild/pb \
	-DOPENAPI_FILE='"$(CURDIR)/docs/openapi.json"' \
	-DWEB_ROOT='"$(CURDIR)/web"' -DSWAGGER_ROOT='"$(CURDIR)/$(SWAGGER_UI_DIR)"' \
	-DDESCRIPTORS_FILE='"$(CURDIR)/build/descriptors.pb"'
SHIM_LIBS = -lmicrohttpd -lpq -lm -lgrpc -lgpr -lprotobuf-c -ljansson -lcurl
shim/pgbank-http: $(SHIM_SOURCES) $(SHIM_HEADERS) docs/openapi.json \
		build/pb/stamp build/descriptors.pb
	$(CC) $(SHIM_CFLAGS) -o $@ $(SHIM_SOURCES) $(PB_C_SOURCES) $(SHIM_LIBS)
all: shim/pgbank-http

# The same shim built with AddressSanitizer and LeakSanitizer (gcc's
# libasan), for the HTTP tests: use after free, overflows, and at exit every
# allocation no longer reachable (regress/http/test_security.py).
shim/pgbank-http-asan: $(SHIM_SOURCES) $(SHIM_HEADERS) docs/openapi.json \
		build/pb/stamp build/descriptors.pb
	$(CC) $(SHIM_CFLAGS) -O1 -fsanitize=address -fno-omit-frame-pointer \
		-o $@ $(SHIM_SOURCES) $(PB_C_SOURCES) $(SHIM_LIBS)

installcheck: | $(RUNDIR)/regress $(RUNDIR)/isolation
$(RUNDIR)/regress $(RUNDIR)/isolation:
	mkdir -p $@

.PHONY: run test docs
# docs/schema.md and the settings table of docs/operations.md, from the
# catalog of a fresh install in the local cluster.
docs:
	scripts/setup.sh
	scripts/gen-docs.py

run:
	scripts/setup.sh
	scripts/run.sh

test:
	scripts/setup.sh
	scripts/test.sh
