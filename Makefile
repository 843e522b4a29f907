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
	extension/token.o
SHLIB_LINK = -lsodium

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

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(DATA_built): $(SQL_SOURCES)
	cat $^ > $@

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
