# Harbormaster: `make run` for a demo instance, `make test` for lint and the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PG_URL ?= postgresql://postgres@127.0.0.1:5432/harbormaster
PYTEST_ARGS ?=

.PHONY: install run lint test test-sqlite test-postgresql check clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

run: install
	$(PY) manage.py migrate --no-input
	$(PY) manage.py demo_setup
	$(PY) manage.py serve

# ruff and mypy (configured in pyproject.toml), before any test runs.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint test-sqlite test-postgresql

test-sqlite: install
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS)

# The suite again with PostgreSQL as the control database, less the tests whose outcome does not
# depend on the control database's engine (marked any_control_db in tests/conftest.py, each with
# its reason): provision, the browser flows (their views run here through the view, API and
# security tests), real web servers, backup stores, hostile site files, subprocesses, templates,
# and the site-database engine matrix (its MariaDB and PostgreSQL cases run in the first pass).
# What stays: locking, transactions, the audit triggers, migrations, query counts, the engine's
# claim and reaper, the querysets of the panel and the API. PG_ALL=1 runs everything.
# Skipped when no server answers on 127.0.0.1:5432, unless HARBORMASTER_REQUIRE_SERVICES=1 (CI),
# where that is a failure.
PG_SELECT := -m "not any_control_db"
test-postgresql: install
	@if $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; then \
		DATABASE_URL=$(PG_URL) $(PY) -m pytest $(if $(PG_ALL),,$(PG_SELECT)) $(PYTEST_ARGS); \
	elif [ "$$HARBORMASTER_REQUIRE_SERVICES" = "1" ]; then \
		echo "PostgreSQL is not reachable on 127.0.0.1:5432 (HARBORMASTER_REQUIRE_SERVICES=1)"; exit 1; \
	else \
		echo "PostgreSQL is not reachable on 127.0.0.1:5432: the PostgreSQL run is skipped"; \
	fi

check: install
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) var
