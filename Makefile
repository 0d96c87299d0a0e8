# Two commands do all the set-up: `make run` (installs requirements.txt: serving) and `make test` (also
# requirements-dev.txt: training + tests + lint). Both are idempotent (stamp files).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
NODE_STAMP := node_modules/.installed

.PHONY: run test web setup clean-venv

setup: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip check
	touch $@

# Training's and the tests' requirements (scipy; pytest, Playwright, ruff, notebook execution) on top of serving's;
# reinstalled when any requirements file changes.
$(DEV_STAMP): $(PY_STAMP) requirements-train.txt requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip check
	touch $@

# TensorFlow.js and the in-browser face detector come from npm (pinned in package-lock.json) and are served locally.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(PY) app.py

web: setup
	$(PY) app.py web

# The test files run on TEST_WORKERS processes (pytest-xdist), each file on one of them: a file's servers and browsers
# stay in one process. 2 on the project's 2-core machine: 6 min 25 s against 10 min 48 s serially (BENCHMARKS.md,
# "The test suite on two processes"); TEST_WORKERS=0 runs it serially.
TEST_WORKERS ?= 2

test: setup $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -rs -n $(TEST_WORKERS) --dist loadfile

clean-venv:
	rm -rf $(VENV) node_modules
