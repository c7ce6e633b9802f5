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
# The PostgreSQL pass keeps its rate limits and sign-in counters in a Redis database of its
# own, so the two passes can run at the same time.
PG_REDIS_TEST_URL ?= redis://127.0.0.1:6379/14

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
	CHATDESK_TEST_DATABASE_URL=$(PG_TEST_URL) CHATDESK_TEST_REDIS_URL=$(PG_REDIS_TEST_URL) $(BIN)/pytest

# The two passes share nothing (each test has its own SQLite file or PostgreSQL database,
# each pass its own Redis database), so they run side by side, one per core. The SQLite
# pass prints as it goes; the PostgreSQL pass's report follows it. Either failing fails.
test: lint
	@$(MAKE) --no-print-directory unit-pg > .unit-pg.log 2>&1 & pg=$$!; \
	$(MAKE) --no-print-directory unit; sqlite=$$?; \
	wait $$pg; postgres=$$?; \
	echo "== PostgreSQL pass (make unit-pg) =="; cat .unit-pg.log; \
	echo "== SQLite pass: exit $$sqlite; PostgreSQL pass: exit $$postgres =="; \
	[ $$sqlite -eq 0 ] && [ $$postgres -eq 0 ]

bench: $(BIN)/.installed
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .coverage
