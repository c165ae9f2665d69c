# profile-resolver: build, test, demo.
#   make test    everything CI runs (lint, unit, integration, conformance)
#   make demo    the one-command demo against the local AWS emulator
#   make demo-up the same stack, left running, with commands to try
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
CARGO ?= cargo
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: all venv build lint test test-rust test-python doc demo demo-up clean

all: build

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

venv: $(VENV)/.installed

build:
	$(CARGO) build --workspace --bins

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

test-rust: venv build
	$(CARGO) test --workspace

test-python: venv build
	$(PY) -m unittest discover -s tests/python -p 'test_*.py' -v

test: lint doc test-rust test-python

demo: venv
	scripts/demo.sh

demo-up: venv
	scripts/demo.sh --keep

clean:
	$(CARGO) clean
	rm -rf $(VENV)
