# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= .data
STAMP  := $(VENV)/.installed
# pytest-xdist processes for `make test` (each clones its own test databases from its own template)
TEST_PROCESSES ?= 2

.PHONY: install run test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip uninstall --quiet --yes smpp.pdu3 2>/dev/null || true
	$(BIN)/python -m pip install --quiet --no-deps --upgrade --target $(VENV)/peers 'smpp.pdu3>=0.6'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/smsengine run --demo --data-dir $(DATA)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q -n $(TEST_PROCESSES) --dist loadscope --no-loadscope-reorder

test: lint typecheck unit

bench: $(STAMP)
	for b in bench_codec bench_text bench_routing bench_ledger bench_session bench_simulator bench_e2e bench_stages bench_http bench_social; do $(BIN)/python -m benchmarks.$$b; done

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache .mypy_cache .ruff_cache .hypothesis
