# The two set-up commands: `make demo` (the main job on the bundled example) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The bundled example is judged at a fixed time so that the demo reads the same every day.
NOW    ?= 2026-11-23T10:00:00Z

.PHONY: demo test test-lowest lint typecheck unit system-deps bench clean

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
	$(BIN)/accessctl lock --check

typecheck: $(BIN)/.installed
	$(BIN)/mypy --strict engine

unit: $(BIN)/.installed
	bash scripts/run-pytest.sh $(BIN)/python

test: system-deps $(BIN)/.installed lint typecheck unit

# The versions pyproject.toml's bounds allow at their lowest, in a venv of their own, under the
# provider and conformance suites: a floor too low for the code fails here, not for a user.
# (uv's lowest-direct resolution; the test tools then at their newest, the project's own
# dependencies pinned where the first install put them.) The vendors' contracts are off there:
# an old SDK describes an older API than the emulators speak (tests/contracts/plugin.py).
LOWEST := .venv-lowest
LOWEST_SUITES := tests/conformance tests/test_github_provider.py tests/test_okta_provider.py \
	tests/test_entra_provider.py tests/test_okta_oauth.py tests/test_aws_identity_center.py \
	tests/test_aws_faults.py tests/test_apply_aws.py tests/test_gitlab_judged_base.py \
	tests/test_pagerduty_rules.py

test-lowest:
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet uv
	$(LOWEST)/bin/uv pip install --quiet --python $(LOWEST)/bin/python \
		--resolution lowest-direct -e '.[all]'
	$(LOWEST)/bin/uv pip freeze --python $(LOWEST)/bin/python \
		| $(LOWEST)/bin/python scripts/lowest-constraints.py > $(LOWEST)/constraints.txt
	cat $(LOWEST)/constraints.txt
	$(LOWEST)/bin/uv pip install --quiet --python $(LOWEST)/bin/python \
		-c $(LOWEST)/constraints.txt 'moto[server]>=5.0' 'pytest>=8' 'pytest-xdist>=3' \
		'openapi-core>=0.19' 'hypothesis>=6'
	ACCESSCTL_CONTRACTS=off PYTHONPATH=engine:. bash scripts/run-pytest.sh \
		$(LOWEST)/bin/python $(LOWEST_SUITES)

bench: $(BIN)/.installed
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(LOWEST) .pytest_cache .mypy_cache .ruff_cache
