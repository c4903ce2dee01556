# servicecenterd — run `make help` for the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO      ?= go
PKGS    ?= ./...
FUZZTIME ?= 2m
BENCHCOUNT ?= 1

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_.-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: test
test: vet ## Run go vet and every test with the race detector.
	$(GO) test -race -count=1 $(PKGS)

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet $(PKGS)

.PHONY: lint
lint: vet ## Check formatting and run go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: fmt
fmt: ## Format the Go code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: fuzz
fuzz: ## Fuzz the TOP response decoder for FUZZTIME (default 2m).
	$(GO) test ./internal/topclient -run '^$$' -fuzz FuzzDecodeResponse -fuzztime $(FUZZTIME)

.PHONY: bench-client
bench-client: ## Benchmark the TOP client against a hand-written floor (BENCHCOUNT runs each).
	$(GO) test ./internal/topclient -run '^$$' -bench . -benchmem -count $(BENCHCOUNT)
