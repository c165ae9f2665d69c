# profile-resolver: build, test, demo.
#   make check   the inner loop: fmt, clippy, unit tests
#   make test    everything CI runs (lint, unit, integration, conformance)
#   make demo    the one-command demo against the local AWS emulator
#   make demo-up the same stack, left running, with commands to try
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
CARGO ?= cargo
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: all venv build nextest lint check test test-rust test-python typecheck-python test-ts test-sam-build test-arm64 arm64-tools layer doc demo demo-up bench bench-arm64-sizes link-order link-order-layer clean

all: build

PY_CLIENT := clients/python/pyproject.toml $(wildcard clients/python/src/profile_resolver/*.py)

$(VENV)/.installed: tests/requirements.txt $(PY_CLIENT)
	@echo "== Installing the Python tools into $(VENV) (first run: a minute or two)"
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./clients/python
	touch $@

venv: $(VENV)/.installed

# The binaries and every test target, in one cargo invocation: the test targets' dev-dependencies
# turn on features (tokio's test-util) that a build of the binaries alone would not, and two
# invocations would compile the AWS SDK twice, once per feature set. The suites and the demo run
# these binaries (the demo's first run compiles the tests too, and `make test` then starts warm).
build:
	$(CARGO) build --workspace --bins --tests

# cargo-nextest runs the Rust tests (each in its own process: .config/nextest.toml); installed
# from crates.io when missing (a few minutes of compiling, once).
nextest:
	@$(CARGO) nextest --version >/dev/null 2>&1 || $(CARGO) install --locked cargo-nextest

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The inner loop: formatting, lints and the unit tests of every crate (no processes, no
# emulator), in a few minutes on a warm target directory.
check: lint nextest
	$(CARGO) nextest run --workspace --lib --bins --no-fail-fast

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

# nextest runs no doc tests: cargo test --doc does.
test-rust: venv build nextest
	$(CARGO) nextest run --workspace --no-fail-fast
	$(CARGO) test --workspace --doc

# The Python suites, side by side (the real `sam build` is test-sam-build's).
test-python: venv build typecheck-python
	scripts/python-suites.sh $(PY)

# The Python client's types, checked against the oldest Python it supports.
typecheck-python: venv
	$(VENV)/bin/mypy --strict --python-version 3.10 clients/python/src

# The TypeScript client: the shipped JavaScript must be what the sources compile to, and it is
# tested with node --test against the real extension.
test-ts: build
	@echo "== TypeScript client"
	cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build
	test -z "$$(git status --porcelain -- clients/typescript/dist)" || (git status --short -- clients/typescript/dist; echo "clients/typescript/dist is stale: run npm run build there" && exit 1)
	cd clients/typescript && node --test test/

# arm64 (Graviton), the template's default architecture: the rustup target, Debian's cross gcc
# (the linker, in .cargo/config.toml) and qemu-user, installed when missing.
arm64-tools:
	rustup target add aarch64-unknown-linux-gnu
	@if ! command -v qemu-aarch64 >/dev/null 2>&1 || ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then \
		echo "== Installing qemu-user and the aarch64 cross gcc from Debian's packages"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross; \
	fi

# The real `sam build` with the template's defaults (arm64: the layer and both functions, release
# builds as SAM makes them), and the layer alone with Architecture=x86_64; then the arm64 suite
# runs those very arm64 binaries under qemu against the x86_64 emulator. What these builds check
# is the wiring (architecture, panic=unwind, the layer's layout), not the optimiser: they build
# without optimisation, LTO or one codegen unit, which halves each architecture's cold build (5.5
# to 2.6 min for arm64 on 2 cores). RUSTFLAGS sets the opt-level because the per-package tables
# in Cargo.toml cannot be overridden from the environment, and rustc takes the last one given
# (RUSTFLAGS also replaces the target-cpu that cargo lambda sets, which unoptimised code does
# not use). They link without the extension's link order, a memory layout whose linker script
# costs a minute or more per link of unoptimised code. `make bench` builds the x86_64 layer and
# `make bench-arm64-sizes` the arm64 one with the full profile and the order, as deploys do.
TEST_RELEASE_PROFILE := CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 RUSTFLAGS="-C opt-level=0" PROFILE_RESOLVER_LINK_ORDER=off
test-sam-build: venv arm64-tools
	$(TEST_RELEASE_PROFILE) PROFILE_RESOLVER_SAM_BUILD=1 $(PY) -m unittest tests/python/test_template.py -v -k sam_build

# `--workspace`, as test-rust, so that features resolve as they did there and nothing rebuilds.
test-arm64: venv build test-sam-build
	$(CARGO) test --workspace --test arm64

# The last step checks that no suite left a process of this checkout running.
test: lint doc test-rust test-python test-ts test-arm64
	scripts/leftovers.sh

demo: venv
	@echo "== Building the binaries (the first run compiles the AWS SDK: several minutes)"
	$(MAKE) --no-print-directory build
	scripts/demo.sh

demo-up: venv
	@echo "== Building the binaries (the first run compiles the AWS SDK: several minutes)"
	$(MAKE) --no-print-directory build
	scripts/demo.sh --keep

# The benchmark (not part of CI): release binaries, one table in docs/benchmarks.md, a chart.
bench: venv
	@for tool in wrk valgrind strace; do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then echo "== Installing$$missing from Debian's packages"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	@echo "== [1/5] Release build of every binary (first run: several minutes)"
	$(CARGO) build --release --workspace --bins
	@echo "   and the extension on its own, as the layer is built: a workspace build unifies the other"
	@echo "   binaries' dependency features into it (tracing's log, serde's rc), 0.3 MB of code it does not ship"
	$(CARGO) build --release -p cache-extension
	@echo "   and the x86_64 Lambda layer, as SAM builds it (cargo lambda, zig), for its idle memory"
	cargo lambda build --release --extension --bin cache-extension --x86-64
	@echo "== [2/5] Engine micro-benchmarks (criterion)"
	$(CARGO) bench -p profile-resolver-shared --bench engine -- --noplot
	@echo "== [3/5] Scenarios against real processes (progress on stderr)"
	target/release/bench --out docs
	@echo "== [4/5] Chart and criterion table"
	$(VENV)/bin/pip install --quiet --disable-pip-version-check matplotlib==3.11.2
	$(PY) scripts/bench_chart.py docs/benchmarks.json docs/benchmarks-latency.png
	$(PY) scripts/bench_criterion.py target/criterion docs/benchmarks.md
	@echo "== [5/5] The arm64 release builds, as sam build makes them by default, for their sizes"
	$(MAKE) --no-print-directory bench-arm64-sizes

bench-arm64-sizes: arm64-tools
	cargo lambda build --release --extension --bin cache-extension --arm64 --lambda-dir target/lambda-arm64
	cargo lambda build --release --bin resolver-fn --arm64 --lambda-dir target/lambda-arm64
	$(PY) scripts/bench_arm64_sizes.py target/lambda-arm64 docs/benchmarks.md

# The extension's link order (cache-extension/build.rs): regenerate after dependency or
# toolchain updates, which rename the functions it lists. Needs valgrind (installed if missing).
link-order: venv
	scripts/link-order.sh

# The x86_64 Lambda layer's own list (cache-extension/link-order.x86_64-lambda.txt), from the
# layer as `cargo lambda` builds it; regenerate it with the other.
link-order-layer: venv
	scripts/link-order.sh --layer

clean:
	$(CARGO) clean
	rm -rf $(VENV)

# The Lambda layer for LAYER_ARCH (arm64 or x86_64) into ARTIFACTS_DIR. SAM runs it through
# layer/ARCH/Makefile, chosen by the template's Architecture parameter.
layer:
	@case "$(LAYER_ARCH)" in arm64|x86_64) ;; *) echo "LAYER_ARCH must be arm64 or x86_64" >&2; exit 2;; esac
	cargo lambda build --release --extension --bin cache-extension $(if $(filter arm64,$(LAYER_ARCH)),--arm64,--x86-64)
	mkdir -p "$(ARTIFACTS_DIR)/extensions"
	cp target/lambda/extensions/cache-extension "$(ARTIFACTS_DIR)/extensions/cache-extension"
	chmod 755 "$(ARTIFACTS_DIR)/extensions/cache-extension"

# SAM
export SAM_CLI_TELEMETRY := 0
