# envtest.mk — real kube-apiserver + etcd + kubectl for the e2e tests (see README.md beside this file).
# Included from the repository root Makefile:  include tests/e2e/envtest/envtest.mk
#
#   make envtest        build (or reuse) the pinned binaries; prints their bin dir
#   make envtest-up     start etcd + kube-apiserver on loopback (idempotent); kubeconfig in target/envtest/
#   make envtest-down   stop them (idempotent)
#   make envtest-status exit 0 if the instance is up and healthy
#   make test-e2e       only the Rust e2e tests (tests/e2e_kube.rs; own private API server, or
#                       the one named by SWITCHBOARD_KUBECONFIG); `make test` runs them too
#
# ENVTEST_DIR (default target/envtest) selects the instance directory.

ENVTEST_MK_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
ENVTEST_SH     := $(ENVTEST_MK_DIR)/envtest.sh

.PHONY: envtest envtest-up envtest-down envtest-status test-e2e

envtest:
	@bash $(ENVTEST_SH) build

envtest-up:
	@bash $(ENVTEST_SH) up

envtest-down:
	@bash $(ENVTEST_SH) down

envtest-status:
	@bash $(ENVTEST_SH) status

test-e2e:
	$(or $(CARGO),cargo) test --test e2e_kube
