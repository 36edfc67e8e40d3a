# catalog — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO      ?= go
BIN     := bin/catalog
DATA    := $(CURDIR)/.data
SAMPLE  ?= 50

# Kafka nodes make up starts: 1 (default) or 3 (make up KAFKA_NODES=3 /
# make run KAFKA_NODES=3); deployments/local/env.sh, CATALOG_KAFKA_NODES.
KAFKA_NODES ?=
ifneq ($(KAFKA_NODES),)
export CATALOG_KAFKA_NODES := $(KAFKA_NODES)
endif

# Each parser's fuzz budget is a count of executions, about 15 s of fuzzing
# on two cores: a duration (-fuzztime=15s) can fail a clean run with
# "context deadline exceeded" when the deadline races a worker's last call
# (Go's fuzzing coordinator, golang/go#75804; fixed in Go 1.27), which a
# count never does.
FUZZ_JSON    ?= 50000x
FUZZ_ERN     ?= 250000x
FUZZ_GATEWAY ?= 80000x
# The engine minimises each new interesting input for up to 60 s by default,
# which would spend a short run minimising instead of fuzzing.
FUZZMINIMIZE ?= 2000x

.PHONY: help build up down run regions tools test test-short vet lint fuzz chaos bench bench-quick bench-parts bench-tools clean-data

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## build bin/catalog (with the commit it was built from: catalog version)
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/catalog

up: ## install (when missing) and start Kafka (KAFKA_NODES=3: a 3-node cluster), PostgreSQL and Redis on loopback
	@bash deployments/local/up.sh

down: ## stop everything `make up`, `make run` and `make regions` started
	@bash deployments/local/down.sh

run: up build ## start every role, load a sample catalogue, print the gateway URL, demo key and a curl
	@mkdir -p $(DATA)/run
	. deployments/local/env.sh && CATALOG_PID_FILE=$(DATA)/run/catalog.pid CATALOG_KAFKA_BROKERS=$$KAFKA_BROKERS \
	  CATALOG_CDN_URL=http://127.0.0.1:$$CDN_PORT CATALOG_CDN_PURGE_URL=http://127.0.0.1:$$CDN_PORT \
	  CATALOG_CDN_SERVICE_ID=$$CDN_SERVICE_ID CATALOG_CDN_PURGE_TOKEN=$$CDN_PURGE_TOKEN \
	  exec ./$(BIN) dev --sample $(SAMPLE)

regions: build ## central (as make run, in the background) plus region india on its own ports and Kafka, fed by MirrorMaker 2; make down stops both
	@bash deployments/regions/up.sh

vet: ## go vet
	$(GO) vet ./...

# golangci-lint, pinned, installed into bin/ on first use (about 5 minutes of
# compiling on 2 busy cores, once; then about 30 s a run).
GOLANGCI_VERSION := v2.15.0
GOLANGCI         := bin/golangci-lint

lint: ## go vet's checks and the import rules (.golangci.yml: depguard), with a pinned golangci-lint
	@$(GOLANGCI) version 2>/dev/null | grep -q "version $(GOLANGCI_VERSION:v%=%) " || { \
		echo "installing golangci-lint $(GOLANGCI_VERSION) into bin/"; \
		GOBIN=$(CURDIR)/bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION); }
	$(GOLANGCI) run ./...

tools: ## install the checkers of deployments/ into bin/: promtool, helm, hadolint, kubernetes-validate (deployments/local/tools.sh)
	@bash deployments/local/tools.sh

test: up vet lint tools ## the whole suite against the real services (starts them when needed; a short chaos run among it), then a short fuzz run per parser
	$(GO) test -count=1 -timeout 30m ./...
	$(MAKE) --no-print-directory fuzz

fuzz: ## run each parser's fuzz target for its budget of executions (FUZZ_JSON, FUZZ_ERN, FUZZ_GATEWAY; corpus in testdata/fuzz)
	$(GO) test -run='^$$' -fuzz='^FuzzParseJSON$$' -fuzztime=$(FUZZ_JSON) -fuzzminimizetime=$(FUZZMINIMIZE) ./ingest/
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZ_ERN) -fuzzminimizetime=$(FUZZMINIMIZE) ./ingest/ern/
	$(GO) test -run='^$$' -fuzz='^FuzzKeyAndPath$$' -fuzztime=$(FUZZ_GATEWAY) -fuzzminimizetime=$(FUZZMINIMIZE) ./gateway/

CHAOS_DELIVERIES ?= 5000
CHAOS_ROUNDS     ?= 3

chaos: up ## thousands of deliveries while faults hit its own Kafka, Postgres, Redis and projector; then catalog verify must find 0 divergences
	CATALOG_CHAOS_DELIVERIES=$(CHAOS_DELIVERIES) CATALOG_CHAOS_ROUNDS=$(CHAOS_ROUNDS) \
		$(GO) test -count=1 -v -run='^TestChaos$$' -timeout=60m ./deployments/chaos/

test-short: ## unit tests only: no services needed
	$(GO) test -short -count=1 ./...

# The harness (bench/) is behind the bench build tag: `go test ./...` skips it.
BENCH := $(GO) test -tags bench -run='^$$' -bench='^BenchmarkCatalogue$$' -benchtime=1x -timeout=0 ./bench/

bench: up bench-tools ## the whole set at 1M tracks, beside the raw limits: writes BENCHMARKS.md and docs/benchmarks.json (about an hour)
	CATALOG_BENCH_TRACKS=1000000 $(BENCH)

bench-quick: up bench-tools ## the same set at 50k tracks, in a few minutes
	CATALOG_BENCH_TRACKS=50000 $(BENCH)

bench-parts: up bench-tools ## each part's own Go benchmarks (ingest, decode and fold, projection, API during a rebuild, proxies)
	$(GO) test -run='^$$' -bench=. -benchtime=500x -count=3 ./ingest/
	$(GO) test -run='^$$' -bench=. -count=3 ./projections/trackdetails/
	$(GO) test -run='^$$' -bench=. -benchtime=2000x -count=3 ./projections/trackdetails/trackdetailspg/
	$(GO) test -run='^$$' -bench='^BenchmarkCDNPurge$$' -benchtime=1x -timeout=15m ./api/cdnpurge/
	$(GO) test -tags bench -run='^$$' -bench='^(BenchmarkAPIDuringRebuild|BenchmarkProxies)$$' -benchtime=1x -timeout=30m ./bench/

bench-tools: ## install wrk and nginx (Debian packages) when missing
	@command -v wrk >/dev/null && command -v nginx >/dev/null || { sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null; }
	@command -v redis-benchmark >/dev/null || { echo "redis-benchmark is missing: make up installs redis-tools with redis-server" >&2; exit 1; }

clean-data: down ## stop the services and delete all their data
	rm -rf $(DATA)
