# livemigrate -- MySQL -> Cloud Spanner backfill engine.
#
#   make up        start the local stack (private MariaDB + Spanner emulator); idempotent
#   make down      stop what `make up` started (data kept in $(STACK_DIR))
#   make status    show what runs
#   make test      go vet + go test against the local stack (the CI command)
#   make demo      load the demo shop into MariaDB and backfill it into the emulator
#   make worker    cross-build the linux/amd64 Dataflow worker binary (bin/livemigrate-worker-linux-amd64)
#   make template  build the Dataflow Flex Template image (needs a running Docker engine)
#   make bench / make soak
#
# Every recipe runs in bash with -euo pipefail, one shell per line.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# =============================================================================
# Local stack (owned by scripts/stack.sh -- keep this section thin)
# =============================================================================
# All of these can be overridden on the command line or from the environment,
# e.g. `make up STACK_DIR=/tmp/lm2 MYSQL_PORT=33406 SPANNER_GRPC_PORT=19110 SPANNER_HTTP_PORT=19120`.
STACK_DIR              ?= $(CURDIR)/.stack
MYSQL_PORT             ?= 33306
SPANNER_GRPC_PORT      ?= 19010
SPANNER_HTTP_PORT      ?= 19020
# Empty = auto-detect (gcloud SDK root, else /usr/lib/google-cloud-sdk/...).
SPANNER_EMULATOR_DIR   ?=
# Extra gateway_main flags, e.g. --enable_fault_injection.
SPANNER_EMULATOR_FLAGS ?=

export STACK_DIR MYSQL_PORT SPANNER_GRPC_PORT SPANNER_HTTP_PORT SPANNER_EMULATOR_DIR SPANNER_EMULATOR_FLAGS

STACK := $(CURDIR)/scripts/stack.sh

.PHONY: help up down status stack-env clean-stack up-spanner down-spanner

help:
	@sed -n '2,/^$$/p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}//'

up:
	@$(STACK) up

down:
	@$(STACK) down

status:
	@$(STACK) status || true

stack-env:
	@$(STACK) env

# Stop the stack and delete $(STACK_DIR) (MariaDB data, logs, password).
clean-stack:
	@$(STACK) clean

# Extra emulator on other ports, e.g.
#   make up-spanner SPANNER_GRPC_PORT=19110 SPANNER_HTTP_PORT=19120 SPANNER_EMULATOR_FLAGS=--enable_fault_injection
up-spanner:
	@$(STACK) up-spanner

down-spanner:
	@$(STACK) down-spanner

# =============================================================================
# Go targets
# =============================================================================
GO ?= go

# Sources the stack's env file (SPANNER_EMULATOR_HOST, LM_MYSQL_*, LM_SPANNER_*).
WITH_STACK_ENV = . $(STACK_DIR)/env &&

.PHONY: build test vet demo bench soak worker template

build:
	$(GO) build -o bin/livemigrate ./cmd/livemigrate

# The binary Dataflow stages on its workers (and the Flex Template runs):
# always linux/amd64, statically linked, whatever this machine is.
# Submit with --worker_binary $(WORKER_BIN); livemigrate never runs go build.
WORKER_BIN ?= bin/livemigrate-worker-linux-amd64

worker:
	GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build -o $(WORKER_BIN) ./cmd/livemigrate
	@echo "built $(WORKER_BIN) (linux/amd64); submit with --worker_binary $(WORKER_BIN)"

# The Flex Template image: Google's Go template launcher + the worker binary.
# Push it and register it with `gcloud dataflow flex-template build` (README).
TEMPLATE_IMAGE ?= livemigrate-flex-template:dev

template: worker
	@if ! docker info >/dev/null 2>&1; then \
	  echo "make template: no Docker engine answers here (docker info failed), so the image cannot be built on this machine: run make template where a Docker engine runs (README: Running on Dataflow)" >&2; \
	  exit 1; \
	fi
	docker build -f template/Dockerfile -t $(TEMPLATE_IMAGE) .

vet:
	$(GO) vet ./...

# CGO_ENABLED=0 as in `make worker`: the tests, the CLI binary they build
# (testenv.Binary) and the worker binary then share one build cache.
test: up
	$(WITH_STACK_ENV) export CGO_ENABLED=0 && $(GO) vet ./... && $(GO) test -count=1 -timeout 15m ./...

demo: up build
	$(WITH_STACK_ENV) scripts/demo.sh

bench: up
	$(WITH_STACK_ENV) $(GO) run ./cmd/lmbench $(BENCH_ARGS)

soak: up
	$(WITH_STACK_ENV) $(GO) test -count=1 -timeout 60m -run Soak -tags soak ./...
