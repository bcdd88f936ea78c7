# Hourglass developer commands. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

FUNCTIONS      := api scanner dispatcher worker
GO             ?= go
# Tests get their own emulator port so they never disturb a running `make dev`.
TEST_EMULATOR_PORT ?= 4567
GOLANGCI_LINT  := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
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
lint: ## gofmt, go vet and golangci-lint (pinned, via go run)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(GOLANGCI_LINT) run ./...

.PHONY: bench
bench: ## Go micro-benchmarks of the hot paths (-benchmem)
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/...

.PHONY: load
load: ## run the load generator against a running `make dev` (N=1000 SPREAD=60s)
	$(GO) run ./scripts/loadgen -api http://$${HOURGLASS_ADDR:-127.0.0.1:8080} -tasks $${N:-1000} -spread $${SPREAD:-60s} -json

.PHONY: synth
synth: build ## synthesize the CDK app (real Lambda binaries) into infra/cdk.out
	cd infra && CDK_OUTDIR=cdk.out $(GO) run .

.PHONY: emulator-stop
emulator-stop: ## stop emulators these scripts started
	@scripts/emulator.sh stop 4566 $(TEST_EMULATOR_PORT) || true

.PHONY: clean
clean: ## remove build outputs
	rm -rf build bin/hourglass-local bin/loadgen infra/cdk.out
