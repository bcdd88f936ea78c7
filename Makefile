# Hourglass developer commands. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

FUNCTIONS      := api scanner dispatcher worker ingest
GO             ?= go
# Tests get their own emulator port so they never disturb a running `make dev`.
TEST_EMULATOR_PORT ?= 4567
GOLANGCI_LINT  := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
# Redocly CLI, run through npx (no global install). recommended-strict is the
# recommended ruleset with every warning raised to an error, so a warning
# fails `make lint` instead of scrolling past.
REDOCLY        := @redocly/cli@2.77.0
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build each function as a linux/arm64 Lambda bootstrap, plus host binaries in bin/
	@for f in $(FUNCTIONS); do \
		mkdir -p build/lambda/$$f; \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o build/lambda/$$f/bootstrap ./functions/$$f; \
		echo "build/lambda/$$f/bootstrap"; \
	done
	@mkdir -p bin
	$(GO) build -o bin/hourglass-local ./functions/local
	$(GO) build -o bin/loadgen ./scripts/loadgen

.PHONY: dev
dev: ## run Hourglass locally: emulator, tables and queues, every function, API on 127.0.0.1:8080
	@scripts/dev.sh

.PHONY: tools
tools: ## install pinned developer tools (Lambda Runtime Interface Emulator) into bin/
	@scripts/tools.sh

.PHONY: test
test: tools ## run every test (unit, fuzz seeds, emulator integration, Lambda binaries under the RIE, CDK) with -race
	@scripts/test.sh

.PHONY: test-race
test-race: test ## same as test (make test always runs with -race)

.PHONY: test-unit
test-unit: ## run only the tests that need no emulator
	$(GO) test -short ./...

.PHONY: fuzz
fuzz: ## fuzz every fuzz target for FUZZTIME each (default 30s)
	@scripts/fuzz.sh $${FUZZTIME:-30s}

.PHONY: lint
lint: ## gofmt, go vet, golangci-lint (pinned, via go run) and Redocly on the OpenAPI document (pinned, via npx)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(GOLANGCI_LINT) run ./...
	npx --yes $(REDOCLY) lint --extends=recommended-strict pkg/api/openapi.json

# Packages with Go benchmarks; the bench driver uses its own emulators on
# BENCH_PORT (SQS) and BENCH_PORT+1 (DynamoDB), never the dev or test ones.
BENCH_PKGS = $$(grep -rl '^func Benchmark' --include='*_test.go' pkg | xargs -n1 dirname | sort -u | sed 's|^|./|')
BENCH_PORT ?= 4590
BENCH_OUT  ?= results/latest

.PHONY: bench
bench: ## Go micro-benchmarks of the hot paths (-benchmem), then every load scenario and asynq side by side (into BENCH_OUT)
	@mkdir -p $(BENCH_OUT)
	$(GO) test -run '^$$' -bench . -benchmem $(BENCH_PKGS) 2>&1 | tee $(BENCH_OUT)/gobench.txt >&2
	$(GO) run ./scripts/bench -out $(BENCH_OUT) -port $(BENCH_PORT) -ddb-port $$(($(BENCH_PORT) + 1)) -gobench $(BENCH_OUT)/gobench.txt

.PHONY: bench-quick
bench-quick: ## bench, smaller (< 10 min on 2 cores); the last stdout line is one JSON object
	@mkdir -p $(BENCH_OUT)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 100ms $(BENCH_PKGS) 2>&1 | tee $(BENCH_OUT)/gobench.txt >&2
	$(GO) run ./scripts/bench -quick -out $(BENCH_OUT) -port $(BENCH_PORT) -ddb-port $$(($(BENCH_PORT) + 1)) -gobench $(BENCH_OUT)/gobench.txt

.PHONY: load
load: ## run the load generator against a running `make dev` (N=1000 SPREAD=60s)
	$(GO) run ./scripts/loadgen -api http://$${HOURGLASS_ADDR:-127.0.0.1:8080} -tasks $${N:-1000} -spread $${SPREAD:-60s} -json

# The chaos run starts its own emulator on CHAOS_PORT, never the dev or test one.
CHAOS_PORT ?= 4580

.PHONY: chaos-quick
chaos-quick: ## chaos run, ~5 min: 1,000 tasks, 4 host crashes, injected AWS faults, ±2 s clock skew; JSON on the last line
	$(GO) run ./scripts/chaos -port $(CHAOS_PORT) -tasks 1000 -spread 150s -crashes 4 -grace 150s

.PHONY: chaos
chaos: ## longer chaos run, ~15 min: 5,000 tasks over 10 minutes, 10 host crashes
	$(GO) run ./scripts/chaos -port $(CHAOS_PORT) -tasks 5000 -spread 600s -crashes 10 -grace 180s -concurrency 16

# The outage run starts its own emulator on OUTAGE_PORT, never the dev or test one.
OUTAGE_PORT ?= 4581

.PHONY: outage
outage: ## outage run, ~9.5 min: DynamoDB, SQS, then EventBridge unavailable for 60 s each while creates continue; JSON on the last line
	$(GO) run ./scripts/outage -port $(OUTAGE_PORT)

.PHONY: synth
synth: build ## synthesize the CDK app (real Lambda binaries) into infra/cdk.out
	cd infra && CDK_OUTDIR=cdk.out $(GO) run .

# The screenshots run their own emulator on SCREENSHOT_PORT, never the dev or test one.
SCREENSHOT_PORT ?= 4596

.PHONY: screenshots
screenshots: ## write a PNG of each console page into docs/img (a seeded dev host on its own emulator, headless Chromium)
	$(GO) run ./scripts/screenshots -port $(SCREENSHOT_PORT) -out docs/img

.PHONY: emulator-stop
emulator-stop: ## stop emulators these scripts started
	@scripts/emulator.sh stop 4566 4568 $(TEST_EMULATOR_PORT) || true

.PHONY: clean
clean: ## remove build outputs
	rm -rf build bin/hourglass-local bin/loadgen infra/cdk.out
