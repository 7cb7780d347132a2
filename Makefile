# Every target installs what it needs first (Python packages into .venv, Node.js and the CDK CLI into
# node_modules), so a fresh clone needs only python3 and npm (any Node.js that runs npm).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | sha1sum | cut -c1-12)
# Node.js is pinned in package.json (the `node` package): with node_modules/.bin first on PATH, jsii
# (aws-cdk-lib in the tests and in synth) and `npx cdk` run on that Node, not on the machine's.
NODE_STAMP := node_modules/.installed-$(shell cat package.json package-lock.json | sha1sum | cut -c1-12)
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: demo test unit integration infra lint typecheck check synth fmt clean soak bench docs

# The package itself goes in editable (its dependencies are the pinned ones above): the `job-auditor`
# console script then runs this checkout's code.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --editable .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# matplotlib only for `make bench` (the plot); `make test` runs the benchmark's smoke test without it.
BENCH_STAMP := $(VENV)/.bench-installed-$(shell sha1sum requirements-bench.txt | cut -c1-12)
$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(PY) -m pip install --quiet -r requirements-bench.txt
	rm -f $(VENV)/.bench-installed-* && touch $(BENCH_STAMP)

# The first `npm ci` of a clone runs on the machine's Node, which may be older than package.json's
# engines: --loglevel=error keeps that one engine warning out (errors still show and fail the target).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -f node_modules/.installed-* && touch $(NODE_STAMP)

## demo: run the auditor for several scheduled cycles against the local simulator and moto
demo: $(STAMP)
	$(PY) -m simulator.demo

## test: lint, type-check, then every test suite (CI runs this)
test: $(STAMP) $(NODE_STAMP) lint typecheck
	$(PY) -m pytest

unit: $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest tests/unit

integration: $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest tests/integration

infra: $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest tests/infra

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The Lambda runs python3.14, the tests run on this machine's 3.11 (no 3.14 can be installed here): the
# second pass checks the Lambda's code against 3.14's standard library (what 3.14 removed is an error).
typecheck: $(STAMP)
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --python-version 3.14 -p job_auditor.auditor -p job_auditor.contract -p job_auditor.slack_forwarder

check: test

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## soak: the long fault-injection soak with its oracle (a short version runs inside `make test`)
soak: $(STAMP)
	$(PY) -m simulator.soak --cycles 1000

## bench: cost and speed of the auditor against its lower bounds and a naive poller (prints figures)
bench: $(STAMP) $(BENCH_STAMP)
	$(PY) -m benchmarks.run

## docs: rewrite the generated docs: the event gallery (docs/events.md) and the dashboard's picture
docs: $(STAMP) $(NODE_STAMP) $(BENCH_STAMP)
	$(PY) docs/gallery.py
	$(PY) -m benchmarks.dashboard

## synth: write cdk.out offline (no AWS account needed)
synth: $(STAMP) $(NODE_STAMP)
	CDK_OUTDIR=cdk.out $(PY) app.py

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache
