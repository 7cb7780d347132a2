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

.PHONY: demo test check unit integration infra lint typecheck complexity synth fmt clean soak bench docs

# Tests run in parallel worker processes, one per processor (`make test PYTEST_WORKERS=0` runs them in
# this process). A module's tests share a worker (`loadscope`), so a module's fixtures (a synthesized
# state machine, a built wheel) are made once; tests/conftest.py hands the longest modules out first.
PYTEST_WORKERS ?= auto
PYTEST := $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope

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

## check: the inner loop: lint, both type-checks, unit and infra tests (CONTRIBUTING.md)
check: $(STAMP) $(NODE_STAMP) lint typecheck
	$(PYTEST) tests/unit tests/infra

## test: everything CI runs: lint, both type-checks and every test suite (unit, infra, integration:
## the simulator, the 1,000-source fan-out, the soak, the demo and the packaging tests)
test: $(STAMP) $(NODE_STAMP) lint typecheck
	$(PYTEST)

unit: $(STAMP) $(NODE_STAMP)
	$(PYTEST) tests/unit

integration: $(STAMP) $(NODE_STAMP)
	$(PYTEST) tests/integration

infra: $(STAMP) $(NODE_STAMP)
	$(PYTEST) tests/infra

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The Lambda runs python3.14, the tests run on this machine's 3.11 (no 3.14 can be installed here): the
# second pass checks the Lambda's code against 3.14's standard library (what 3.14 removed is an error).
# The two passes are independent and run side by side.
typecheck: $(STAMP)
	$(VENV)/bin/mypy & main=$$!; \
	$(VENV)/bin/mypy --python-version 3.14 -p job_auditor.auditor -p job_auditor.contract \
		-p job_auditor.slack_forwarder; lambda=$$?; \
	wait $$main && exit $$lambda

## complexity: the blocks above xenon's rank B (cyclomatic complexity over 10 as radon counts it), and
## how many: a report, not a gate (the gate is ruff's C90, pyproject.toml says why)
COMPLEXITY_PATHS := app.py job_auditor simulator benchmarks
complexity: $(STAMP)
	@$(VENV)/bin/radon cc --min C --show-complexity $(COMPLEXITY_PATHS)
	@echo "blocks above rank B: $$($(VENV)/bin/radon cc --min C $(COMPLEXITY_PATHS) | grep -cE ' - [C-F]$$')"

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
