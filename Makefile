# The two set-up commands: `make demo` (the main job on the bundled example) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The bundled example is judged at a fixed time so that the demo reads the same every day.
NOW    ?= 2026-11-23T10:00:00Z

.PHONY: demo test lint typecheck unit system-deps bench clean

# `make demo` installs only what the demo needs (the `demo` extra); `make test` adds every SDK
# extra and the development tools, which the demo then also finds in place.
$(BIN)/.demo-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $@

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(BIN)/.demo-installed

demo: $(BIN)/.demo-installed
	$(BIN)/accessctl validate --now $(NOW)
	$(BIN)/accessctl plan --offline --now $(NOW)
	$(BIN)/accessctl demo

system-deps:
	bash scripts/install-system-deps.sh

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/accessctl schemas --check
	$(BIN)/accessctl workflows --check
	$(BIN)/accessctl workflows --check --vcs gitlab

typecheck: $(BIN)/.installed
	$(BIN)/mypy --strict engine

unit: $(BIN)/.installed
	bash scripts/run-pytest.sh $(BIN)/python

test: system-deps $(BIN)/.installed lint typecheck unit

bench: $(BIN)/.installed
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
