# The two commands a newcomer needs: `make demo` and `make test`.
# Both create (or reuse) the local virtual environment .venv themselves.

# The first Python 3.11+ found; override with `make PYTHON=/path/to/python3 ...`.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3.14 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# What is installed, one stamp each: the demo needs only vodwatch itself; the tests, linters
# and benchmarks need the [test] extras too (which include vodwatch, so they mark both).
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
# Where `make demo` works; kept after it ends so its files can be read, emptied by the next.
DEMO_DIR := .demo

.PHONY: demo test lint bench bench-quick soak clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "vodwatch needs Python 3.11 or newer (none found; set PYTHON=...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): $(BIN)/python pyproject.toml
	$(PIP) -e .
	@touch $(RUN_STAMP)

$(TEST_STAMP): $(BIN)/python pyproject.toml
	$(PIP) -e '.[test]'
	@touch $(TEST_STAMP) $(RUN_STAMP)

demo: $(RUN_STAMP)
	$(BIN)/vodwatch demo --dir $(DEMO_DIR)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

lint: $(TEST_STAMP)
	$(BIN)/ruff check vodwatch tests benchmarks
	$(BIN)/mypy

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/run_all.py

bench-quick: $(TEST_STAMP)
	$(BIN)/python benchmarks/run_all.py --quick

soak: $(TEST_STAMP)
	$(BIN)/python -m pytest -m slow -q

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
