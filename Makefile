# Every target installs what it needs into .venv first, so a fresh clone needs only python3 (and Node.js for the CDK CLI).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: demo test unit integration infra lint typecheck check synth fmt clean soak bench

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

## demo: run the auditor for several scheduled cycles against the local simulator and moto
demo: $(STAMP)
	$(PY) -m simulator.demo

## test: lint, type-check, then every test suite (CI runs this)
test: $(STAMP) lint typecheck
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests/unit

integration: $(STAMP)
	$(PY) -m pytest tests/integration

infra: $(STAMP)
	$(PY) -m pytest tests/infra

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

check: test

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## soak: the long fault-injection soak with its oracle (a short version runs inside `make test`)
soak: $(STAMP)
	$(PY) -m simulator.soak --cycles 1000

## bench: cost and speed of the auditor against its lower bounds and a naive poller (prints figures)
bench: $(STAMP)
	$(PY) -m benchmarks.run

## synth: write cdk.out offline (no AWS account needed)
synth: $(STAMP)
	CDK_OUTDIR=cdk.out $(PY) app.py

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .mypy_cache .ruff_cache
