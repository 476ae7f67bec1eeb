# The two sacred commands: `make serve` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: serve test lint typecheck unit install compile clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: compile

# The workflow engine compiled with mypyc (decision 0007): built only when the domain sources changed, used
# only while its stamp matches them; without a C compiler it prints one line and the product runs pure Python.
COMPILE_ARGS ?=
compile: $(STAMP)
	$(BIN)/python -m motcua.domain._build --if-stale $(COMPILE_ARGS)

serve: compile
	$(BIN)/motcua db setup
	$(BIN)/motcua serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check motcua tests $(wildcard bench)
	$(BIN)/ruff format --check motcua tests $(wildcard bench)

typecheck: $(STAMP)
	$(BIN)/mypy

unit: compile
	$(BIN)/pytest -n 2 -q
	MOTCUA_PURE=1 $(BIN)/pytest -q -p no:xdist tests/domain tests/services/test_legacy_import.py

test: lint typecheck unit

# Benchmarks (issue #6), not part of `make test`: BENCH_SCALE=small (minutes) or full (10 million dossiers,
# about an hour and ~60 GB of disk); BENCH_ARGS for more, e.g. BENCH_ARGS="--only engine,import". See bench/README.md.
BENCH_SCALE ?= small
BENCH_ARGS  ?=
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench --scale $(BENCH_SCALE) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var build .pytest_cache .mypy_cache .ruff_cache
