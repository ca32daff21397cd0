# Switchboard build, test and lint entry points. `make test` is what CI runs.
CARGO ?= cargo

.PHONY: all build test test-unit lint fmt crds bench postgres-up postgres-down helm

all: build

build:
	$(CARGO) build

## test: everything: unit, integration (real HTTP on loopback) and e2e (real kube-apiserver).
test:
	scripts/browser-test.sh install
	$(CARGO) test

## lint: formatting and clippy, warnings as errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## postgres-up: start the throwaway PostgreSQL under target/pg for the store tests and print
## its URL; export it as SWITCHBOARD_TEST_POSTGRES_URL (`make test` runs them when it is set).
postgres-up:
	@scripts/postgres-test.sh start

## postgres-down: stop that PostgreSQL.
postgres-down:
	@scripts/postgres-test.sh stop

## crds: regenerate crds/ from the Rust types (a test fails when crds/ is stale), and the
## chart's copy (tests/chart.rs checks they are identical).
crds:
	$(CARGO) run --quiet -- crds --out-dir crds
	rm -f charts/switchboard/crds/*.yaml && cp crds/*.yaml charts/switchboard/crds/

## bench: criterion benchmarks, then the jq reference measurement (figures go to BENCHMARKS.md).
bench:
	$(CARGO) bench
	benches/jq_reference.sh

## helm: build (or reuse) the pinned helm CLI the chart tests use (tests/e2e/helm); prints its path.
helm:
	@bash tests/e2e/helm/helm.sh build

-include tests/e2e/envtest/envtest.mk
