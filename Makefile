# The two commands a newcomer needs: `make run` and `make test`. Everything else is here for them.
SHELL := /bin/bash
MODULE := target/release/librdi.so
ENV := source .deps/env.sh

.PHONY: run test lint deps build unit module-tests stop fmt bench

## run: build the module, start Redis 7.4 with it on 127.0.0.1:6390, deploy the SQLite quickstart, show rows arriving
run: build
	@bash scripts/run.sh

## stop: stop the Redis started by `make run`
stop:
	@bash scripts/run.sh stop

## test: unit tests, then the module tests against real Redis, Valkey, PostgreSQL, MariaDB and SQLite, then redis-di's
test: build
	@$(ENV) && cargo test --release --lib
	@$(ENV) && cargo test --release -p module-tests -- --test-threads=4
	@$(ENV) && cargo test --release -p redis-di
	@$(ENV) && for v in RDI_TEST_SQLSERVER RDI_TEST_ORACLE RDI_TEST_CASSANDRA; do \
	  t=$$(echo $$v | sed 's/RDI_TEST_//' | tr A-Z a-z); \
	  if [ -n "$${!v:-}" ]; then cargo test --release --lib -- --ignored "conformance_against_a_real_$$t"; \
	  else echo "skipped: $$v is not set, so the $$t conformance suite did not run (its statements are unit-tested)"; fi; \
	done

## chaos: fault scenarios under write load (kill -9 with AOF always, PostgreSQL outage, failover to a
## replica, graceful FAILOVER with AOF on, four redeploys, slot migration in a 3-primary cluster), 5 runs
## each, comparing every key with its row; not part of `make test`
.PHONY: chaos
chaos: build
	@$(ENV) && cargo run --release -p module-tests --bin chaos -- --runs 5

## bench: the performance figures (README "Performance"), each against a baseline of the same run; not part of `make test`
bench: build
	@$(ENV) && cargo build --release -p rdi-bench
	@$(ENV) && RDI_MODULE=$${RDI_MODULE:-$${CARGO_TARGET_DIR:-$(CURDIR)/target}/release/librdi.so} \
		$${CARGO_TARGET_DIR:-target}/release/rdi-bench

## unit: the pure-Rust unit tests only (no servers)
unit: deps
	cargo test --lib

## lint: formatting and clippy with warnings as errors
lint: deps
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --all-features -- -D warnings

fmt:
	cargo fmt --all

## deps: install what the build and the tests need (idempotent)
deps: .deps/env.sh
.deps/env.sh: scripts/deps.sh
	@bash scripts/deps.sh

build: deps
	cargo build --release
	cargo build --release -p redis-di
