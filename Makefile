# chatdesk: `make run` starts the product, `make test` runs every check.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
NPM ?= npm
# Biome (the console's and the widget's JavaScript: format and lint), pinned in package-lock.json.
BIOME := node_modules/.bin/biome
# The PostgreSQL server the second test pass uses (it creates and drops a database of its own).
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test lint format unit unit-pg bench demo clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	touch $@

run: $(BIN)/.installed
	$(BIN)/chatdesk serve

demo: $(BIN)/.installed
	$(BIN)/chatdesk demo
	$(BIN)/chatdesk serve

lint: $(BIN)/.installed node_modules/.installed
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy
	$(BIOME) ci --colors=off

format: $(BIN)/.installed node_modules/.installed
	$(BIN)/ruff format src tests bench examples
	$(BIOME) check --write

unit: $(BIN)/.installed
	rm -f .coverage .coverage.*  # data left by a previous run's writer processes
	CHATDESK_TEST_REDIS_URL=$(REDIS_TEST_URL) $(BIN)/pytest --cov --cov-report=term --cov-fail-under=90

unit-pg: $(BIN)/.installed
	CHATDESK_TEST_DATABASE_URL=$(PG_TEST_URL) CHATDESK_TEST_REDIS_URL=$(REDIS_TEST_URL) $(BIN)/pytest

test: lint unit unit-pg

bench: $(BIN)/.installed
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .coverage
