# xmmdb — the XMM-Newton archive inside PostgreSQL.
#
#   make run     set up, start the private cluster, load the sample sky, start the web shim
#   make test    set up, then lint and run the whole test suite (ruff, SQL regression, pytest)
#   make stop    stop the web shim and the cluster
#   make bench   write bench/results.md
#   make coverage  the test suite with line coverage of the Python it runs
#
# XMMDB_DSN=... points every target at an existing server instead of var/pgdata.

EXTENSION = xmmdb
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" extension/$(EXTENSION).control)
PG_CONFIG = /usr/lib/postgresql/15/bin/pg_config
SQL_FILES = $(sort $(wildcard sql/*.sql))
EXT_SCRIPT = extension/$(EXTENSION)--$(EXTVERSION).sql
PY_SOURCES = $(shell find plpython loader webshim -type f -not -path '*/__pycache__/*') pyproject.toml setup.py

STATE := $(shell bash setup/cluster.sh statedir)
VENV = $(STATE)/venv
PY = $(VENV)/bin/python
WEB_PORT ?= 8008
SUDO = $(if $(filter 0,$(shell id -u)),,sudo)

# The CLI finds the DSN the same way: $XMMDB_DSN, else var/dsn.
export XMMDB_DSN
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: lint setup deps venv install db start run stop test test-sql test-py coverage bench sample fuzz clean

setup: deps venv install

deps: $(STATE)/.deps
$(STATE)/.deps: setup/deps.sh
	@bash setup/deps.sh
	touch $@

# One venv, made with the interpreter PL/Python embeds, serves the server
# (xmm.python_lib_dir), the CLI and the tests. The project is installed into it
# (not editable) so that `postgres` can read it wherever the checkout lives.
venv: $(STATE)/.venv
$(STATE)/.venv: $(PY_SOURCES) $(STATE)/.deps
	@test -x $(PY) || /usr/bin/python3.11 -m venv $(VENV)
	flock $(STATE)/.venv.lock sh -c "$(PY) -m pip install -q --upgrade pip wheel && $(PY) -m pip install -q '.[test]' && rm -rf build *.egg-info"
	$(PY) -c 'from xmmdb.sqlsafe import write_tables_at_install as w; w()'   # the grammars' parse tables, beside them
	$(PY) -c 'from xmmdb.spectral.absorption import write_tables_at_install as w; w()'   # cross-sections as arrays
	touch $@

# The install script of default_version (extension/xmmdb.control) from sql/*.sql,
# and the upgrade script from the previous release from sql/upgrade/<version>/
# (setup/build_extension.py; it refuses to rebuild a release differently).
# sql/ itself: a removed file changes the directory, not any remaining file.
UPGRADE_FILES = $(sort $(wildcard sql/upgrade/*/*.sql))
$(EXT_SCRIPT): sql $(SQL_FILES) $(UPGRADE_FILES) extension/$(EXTENSION).control extension/RELEASES setup/build_extension.py Makefile
	@python3 setup/build_extension.py
	@touch $@

# The C module (src/, PGXS) goes to the server's pkglibdir, the script beside the control file.
# The module is loaded by every backend (shared_preload_libraries): a new one
# is renamed into place, never written over the file running servers map.
PKGLIB = $(shell $(PG_CONFIG) --pkglibdir)
install: $(EXT_SCRIPT) $(STATE)/.deps
	@$(MAKE) --no-print-directory -s -C src
	@flock $(STATE)/.install.lock sh -c 'cmp -s src/$(EXTENSION).so $(PKGLIB)/$(EXTENSION).so || \
	  { $(SUDO) install -m 755 src/$(EXTENSION).so $(PKGLIB)/$(EXTENSION).so.new && \
	    $(SUDO) mv -f $(PKGLIB)/$(EXTENSION).so.new $(PKGLIB)/$(EXTENSION).so; } && \
	  $(SUDO) install -m 644 extension/$(EXTENSION).control extension/$(EXTENSION)--*.sql $$($(PG_CONFIG) --sharedir)/extension/'

start: setup
	@if [ -z "$(XMMDB_DSN)" ]; then bash setup/cluster.sh start; fi

db: start
	@$(VENV)/bin/xmmdb init --sample data/sample

run: db
	@$(VENV)/bin/xmmdb dsn --save >/dev/null 2>&1
	@$(PY) -m xmmdb_web.serve start --port $(WEB_PORT) --state $(STATE)
	@echo
	@echo "xmmdb is up."
	@echo "  psql:  psql \"$$($(VENV)/bin/xmmdb dsn 2>/dev/null)\""
	@echo "  web:   http://127.0.0.1:$(WEB_PORT)/"
	@echo "  cli:   $(VENV)/bin/xmmdb status   (from any directory: the DSN is saved in ~/.config/xmmdb/dsn)"
	@echo "  stop:  make stop"

stop:
	@test ! -x $(PY) || $(PY) -m xmmdb_web.serve stop --state $(STATE)
	@bash setup/cluster.sh stop

test: start
	$(MAKE) --no-print-directory lint test-sql test-py

# pyflakes' and pycodestyle's errors, mutable defaults, late-bound loop variables ([tool.ruff] in pyproject.toml).
lint: venv
	$(VENV)/bin/ruff check --quiet plpython loader webshim tests bench setup

# pg_regress over tests/sql against a scratch database of the running server.
test-sql:
	@$(PY) tests/run_regress.py

# Test files spread over one process per core and one more (each with its own scratch
# database: the extra one uses the time the others wait on browsers, clients and subprocesses),
# then the tests marked serial alone: they change settings the whole cluster sees.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
# the files that mark tests serial: collecting only them spares the serial run every other import
SERIAL_FILES = $(shell grep -l 'mark\.serial' tests/test_*.py)
test-py:
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not serial" $(PYTEST_ARGS)
	$(PY) -m pytest -q -m serial $(SERIAL_FILES) $(PYTEST_ARGS) || [ $$? -eq 5 ]   # 5: none selected

# Line coverage of the Python the test processes run (the loader, the web shim, and the server
# package where the tests import it; what runs inside PostgreSQL is not traced): term report.
COV = --cov=xmmdb_loader --cov=xmmdb_web --cov=xmmdb --cov-report=
coverage: start
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not serial" $(COV) $(PYTEST_ARGS)
	$(PY) -m pytest -q -m serial $(SERIAL_FILES) $(COV) --cov-append --cov-report=term $(PYTEST_ARGS)

fuzz: start
	XMMDB_FUZZ_EXAMPLES=100000 $(PY) -m pytest -q tests -k fuzz
	XMMDB_ALL_RELEASES=1 $(PY) -m pytest -q tests/test_upgrade.py   # from every release, not only the oldest and newest

bench: db
	$(PY) -m bench.run $(BENCH_ARGS)

# Regenerate the bundled sample sky (documented seed).
sample: venv
	$(VENV)/bin/xmmdb simulate --seed 20141123 --out data/sample

clean: stop
	rm -rf build *.egg-info $(filter-out $(shell git ls-files extension), $(wildcard extension/$(EXTENSION)--*.sql))
	$(MAKE) -C src clean
