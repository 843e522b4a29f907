# pgbank: PGXS build of the extension, plus the HTTP shim and the project's
# two entry points (`make run`, `make test`).

EXTENSION = pgbank
EXTVERSION = 0.1.0

MODULE_big = pgbank
OBJS = \
	extension/pgbank.o \
	extension/ledger.o \
	extension/password.o \
	extension/paseto.o \
	extension/jwt.o \
	extension/token.o \
	extension/session.o \
	extension/email.o \
	extension/outbox.o
SHLIB_LINK = -lsodium -lcurl

# The install script is assembled from one fragment per concern (sql/src),
# in file-name order, as pgvector builds its versioned script.
SQL_SOURCES = $(sort $(wildcard sql/src/*.sql))
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*.sql))

# Where run-time state lives (cluster, test output); ignored by git.
RUNDIR ?= $(CURDIR)/.run

TESTS = $(sort $(wildcard regress/sql/*.sql))
REGRESS = $(patsubst regress/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=regress --outputdir=$(RUNDIR)/regress \
	--temp-instance=$(RUNDIR)/tmp_check --temp-config=regress/regress.conf

# Interleavings of sessions (lock order, idempotency races).
ISOLATION = $(patsubst regress/specs/%.spec,%,$(sort $(wildcard regress/specs/*.spec)))
ISOLATION_OPTS = --inputdir=regress --outputdir=$(RUNDIR)/isolation \
	--temp-instance=$(RUNDIR)/tmp_check_iso --temp-config=regress/regress.conf

WERROR ?= -Werror
PG_CFLAGS += -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers $(WERROR)

# The shim's binary (its rule is below); set before PGXS, which tests it.
EXTRA_CLEAN = shim/pgbank-http

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(DATA_built): $(SQL_SOURCES)
	cat $^ > $@

# The HTTP shim (shim/): a plain program, built with every warning an error.
# docs/openapi.json is built into it (shim/openapi_doc.c).
SHIM_SOURCES = $(sort $(wildcard shim/*.c))
SHIM_CFLAGS = -std=gnu11 -O2 -g -pthread -Wall -Wextra -Werror -Wno-unused-parameter \
	-I$(shell $(PG_CONFIG) --includedir) \
	-DOPENAPI_FILE='"$(CURDIR)/docs/openapi.json"'
shim/pgbank-http: $(SHIM_SOURCES) shim/shim.h docs/openapi.json
	$(CC) $(SHIM_CFLAGS) -o $@ $(SHIM_SOURCES) -lmicrohttpd -lpq -lm
all: shim/pgbank-http

installcheck: | $(RUNDIR)/regress $(RUNDIR)/isolation
$(RUNDIR)/regress $(RUNDIR)/isolation:
	mkdir -p $@

.PHONY: run test
run:
	scripts/setup.sh
	scripts/run.sh

test:
	scripts/setup.sh
	scripts/test.sh
