# servicecenterd — run `make help` for the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO      ?= go
PKGS    ?= ./...
FUZZTIME ?= 2m
BENCHCOUNT ?= 1
# buf is pinned in buf.tools.mod, apart from go.mod, so that buf's own
# dependencies stay out of the server's module graph; the protoc plugins are
# tool lines in go.mod.
BUF     ?= $(GO) tool -modfile=buf.tools.mod buf
# helm is pinned in helm.tools.mod, apart from go.mod for the same reason
# as buf (Kubernetes' client libraries stay out of the server's module
# graph); `make lint` lints and renders deploy/helm/servicecenterd with it.
HELM    ?= $(GO) tool -modfile=helm.tools.mod helm
CHART   := deploy/helm/servicecenterd
# The git ref `make breaking` compares proto/ against; origin/$(BREAKING_AGAINST)
# is used when there is no local branch of that name.
BREAKING_AGAINST ?= main
# Where `make third-party-protos` puts the imported protos (git-ignored).
THIRD_PARTY := third_party/proto

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_.-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# make run knobs: where the binary goes, the state directory (jobs and
# audit trail; this clone's own, git-ignored) and more serve flags.
RUN_BIN      ?= bin/servicecenterd
RUN_DATA_DIR ?= data
RUN_FLAGS    ?=

.PHONY: run
run: ## Build bin/servicecenterd and serve on the embedded TOP emulator: gRPC 127.0.0.1:9090, REST 127.0.0.1:8080, emulator 127.0.0.1:8800, state in ./data. Holds the terminal; Ctrl-C stops it.
	$(GO) build -o $(RUN_BIN) ./cmd/servicecenterd
	@echo "servicecenterd: state in $(RUN_DATA_DIR)/ (make reset clears it); Ctrl-C stops the server"
	@exec $(RUN_BIN) serve --data-dir $(RUN_DATA_DIR) $(RUN_FLAGS)

.PHONY: reset
reset: ## Delete make run's state (./data: sync jobs and audit trail); the emulator's state lives in memory and resets with the server.
	rm -rf $(RUN_DATA_DIR)

.PHONY: build
build: ## Build bin/servicecenterd.
	$(GO) build -o bin/servicecenterd ./cmd/servicecenterd

.PHONY: tools
tools: ## Install the pinned grpcurl into bin/ for the gRPC examples (a first build takes a few minutes).
	GOBIN=$(CURDIR)/bin $(GO) install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4

# internal/e2e/deploy renders the chart with the pinned helm and checks
# the renders with deploy/kubecheck (a module of its own): `make test`
# builds both first, outside the tests' time limit (minutes on a cold cache).
# go test runs a subset of go vet's checks on each package before its tests
# unless told not to: the vet target has just run all of them on the same
# packages, so -vet=off only skips the second pass.
# -race also turns on the compiler's checks of unsafe pointer arithmetic
# (checkptr) in every package; in modernc.org's SQLite, C translated to Go,
# they took about a quarter of the CPU in a profile of the server's tests.
# TEST_GCFLAGS turns them off there only: our own packages, and every
# other, keep them, and every package keeps the race detector.
TEST_GCFLAGS ?= modernc.org/...=-d=checkptr=0
.PHONY: test
test: vet tmc-node-deps ## Run go vet and every test with the race detector.
	$(HELM) version >/dev/null
	$(GO) -C deploy/kubecheck build -o /dev/null .
	$(GO) test -race -count=1 -vet=off -gcflags='$(TEST_GCFLAGS)' $(PKGS)

# The emulator's TMC conformance test (internal/topemu) runs a third-party
# Node consumer, examples/tmc-node, on the ws package: npm ci from its
# committed package-lock.json, again only when the lock file changes.
# Without npm the test skips (and fails under CI).
.PHONY: tmc-node-deps
tmc-node-deps: ## Install examples/tmc-node's npm packages (npm ci) for the emulator's TMC conformance test.
	@if ! command -v npm >/dev/null 2>&1; then echo "npm not found: the emulator's TMC conformance test (Node) will skip (and fail under CI)"; \
	elif ! $(MAKE) -s --no-print-directory examples/tmc-node/node_modules/.package-lock.json; then \
	echo "npm ci failed in examples/tmc-node: the emulator's TMC conformance test (Node) will skip (and fail under CI)"; fi

examples/tmc-node/node_modules/.package-lock.json: examples/tmc-node/package-lock.json
	cd examples/tmc-node && npm ci --no-audit --no-fund

# The client examples (examples/, docs/clients.md) run against a live
# server in `make test-clients`. They need Node (npm ci from the committed
# package-lock.json) and Debian's protoc (with libprotobuf-dev: the
# well-known types protoc imports, only recommended by protobuf-compiler,
# which --no-install-recommends leaves out), gRPC Python plugin and python3
# gRPC (`make client-deps` installs them with apt-get).
# The Java example uses Debian's JDK, protoc-gen-grpc-java and jars only.
APT_CLIENT_PACKAGES := protobuf-compiler libprotobuf-dev protobuf-compiler-grpc python3-grpcio python3-protobuf \
	default-jdk-headless protobuf-compiler-grpc-java-plugin libprotobuf-java libgrpc-java libnetty-java libperfmark-java libguava-java
PROTOC_FILES = $$(cd dist/protos && find . -name '*.proto' | sed 's|^./||' | LC_ALL=C sort)
JAVA_JARS := protobuf grpc-api grpc-context grpc-core grpc-stub grpc-protobuf grpc-protobuf-lite grpc-netty guava \
	error_prone_annotations geronimo-annotation-1.3-spec perfmark-api \
	netty-common netty-buffer netty-codec netty-codec-http netty-codec-http2 netty-codec-socks netty-handler netty-handler-proxy netty-resolver netty-transport
JAVA_CLASSPATH := $(subst $(eval) ,:,$(foreach j,$(JAVA_JARS),/usr/share/java/$(j).jar))

.PHONY: client-deps
client-deps: ## Install what the client examples need: Debian's protoc, gRPC plugins, python3-grpcio, JDK and Java jars (apt-get), and examples/node's npm packages (npm ci).
	@missing=""; for p in $(APT_CLIENT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "apt-get install$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi
	cd examples/node && npm ci --no-audit --no-fund

.PHONY: examples
examples: protos ## Generate the example clients' code from the proto bundle and the OpenAPI 3 document (after make client-deps).
	rm -rf examples/python/gen && mkdir -p examples/python/gen
	protoc -I dist/protos --python_out=examples/python/gen --grpc_python_out=examples/python/gen \
		--plugin=protoc-gen-grpc_python=$$(command -v grpc_python_plugin) $(PROTOC_FILES)
	cd examples/node && npm run --silent generate
	rm -rf examples/java/gen examples/java/classes && mkdir -p examples/java/gen examples/java/classes
	protoc -I dist/protos --java_out=examples/java/gen --grpc-java_out=examples/java/gen \
		--plugin=protoc-gen-grpc-java=$$(command -v grpc_java_plugin || command -v protoc-gen-grpc-java) $(PROTOC_FILES)
	echo 'examples/java/classes:$(JAVA_CLASSPATH)' > examples/java/classpath
	javac -nowarn -encoding UTF-8 -d examples/java/classes -cp '$(JAVA_CLASSPATH)' $$(find examples/java/gen -name '*.java') examples/java/Client.java

.PHONY: test-clients
test-clients: client-deps examples ## Run the Node, Python, Java, OpenAPI-TypeScript and reflection clients against a live server on loopback (about 2 min).
	$(GO) test -tags clients -count=1 -timeout 5m ./internal/e2e/clients

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet $(PKGS)

.PHONY: lint
lint: vet third-party-protos ## Check Go and proto formatting, run go vet, buf lint and buf breaking, that docs/architecture.md lists every package, and helm lint and helm template of the chart in both modes.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) test -count=1 -run '^TestArchitecture' .
	$(BUF) lint
	$(BUF) format -d --exit-code proto
	@$(MAKE) --no-print-directory breaking
	@$(MAKE) --no-print-directory lint-chart

.PHONY: lint-chart
lint-chart: ## helm lint --strict and helm template of deploy/helm/servicecenterd (N replicas, and one embedded), the renders decoded strictly into Kubernetes' types (deploy/kubecheck).
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) --set mode=embedded
	$(GO) -C deploy/kubecheck vet .
	$(HELM) template servicecenterd $(CHART) --set replicaCount=3 | $(GO) -C deploy/kubecheck run . >/dev/null
	$(HELM) template servicecenterd $(CHART) --set mode=embedded | $(GO) -C deploy/kubecheck run . >/dev/null

.PHONY: generate
generate: third-party-protos ## Generate Go, gRPC, gateway, OpenAPI code and the proto bundle from proto/ into gen/.
	$(BUF) generate
	$(GO) run ./cmd/contractgen -proto proto -third-party $(THIRD_PARTY) -out gen

.PHONY: protos
protos: ## Write the proto bundle for other languages: dist/protos/ (every .proto a client needs) and dist/descriptor.binpb.
	@rm -rf dist/protos && mkdir -p dist
	tar -xf gen/bundle/protos.tar -C dist
	cp gen/bundle/descriptor.binpb dist/descriptor.binpb
	@echo "protoc -I dist/protos ... or --descriptor_set_in=dist/descriptor.binpb (see docs/clients.md)"

.PHONY: check-generated
check-generated: generate ## Fail when gen/ is not exactly what `make generate` writes.
	@git diff --exit-code --stat -- gen/ || { echo "gen/ is stale: run make generate and commit it" >&2; exit 1; }
	@out=$$(git ls-files --others --exclude-standard -- gen/); if [ -n "$$out" ]; then echo "untracked files in gen/ (commit them):" >&2; echo "$$out" >&2; exit 1; fi

.PHONY: breaking
breaking: third-party-protos ## Check proto/ for breaking changes against BREAKING_AGAINST (default main).
	@ref='$(BREAKING_AGAINST)'; \
	git rev-parse -q --verify "$$ref^{commit}" >/dev/null || ref="origin/$$ref"; \
	if ! git rev-parse -q --verify "$$ref^{commit}" >/dev/null; then echo "buf breaking: skipped, no git ref $(BREAKING_AGAINST)"; exit 0; fi; \
	if [ -z "$$(git ls-tree -d --name-only "$$ref" proto)" ]; then echo "buf breaking: skipped, $$ref has no proto/ yet"; exit 0; fi; \
	against=$$(mktemp -d); trap 'rm -rf "$$against"' EXIT; \
	git archive "$$ref" proto | tar -x -C "$$against"; \
	mkdir -p "$$against/third_party" && cp -R $(THIRD_PARTY) buf.yaml "$$against/third_party/" && mv "$$against/third_party/buf.yaml" "$$against/"; \
	echo "buf breaking --against $$ref"; \
	$(BUF) breaking --against "$$against"

# The third-party protos we import, taken from Go modules (so only the Go
# module proxy is needed) and checked against pinned module hashes (h1:):
# google/api from grpc-gateway v1's copy of googleapis, buf/validate from the
# protovalidate spec module. Bump the version and hash together.
.PHONY: third-party-protos
third-party-protos: ## Copy the imported google/api and buf/validate protos from the Go module cache into third_party/.
	@rm -rf $(THIRD_PARTY)
	@$(call fetch-protos,github.com/grpc-ecosystem/grpc-gateway@v1.16.0,h1:gmcG1KaJ57LophUzW0Hy8NmPhnMZb4M0+kPpLofRdBo=,third_party/googleapis,google/api/annotations.proto google/api/http.proto)
	@$(call fetch-protos,github.com/bufbuild/protovalidate@v1.2.2,h1:2H/9/Kr97etSRqW3IJjTTb09z+zutkK2GDhDRbOnqr4=,proto/protovalidate,buf/validate/validate.proto)

# fetch-protos,module@version,hash,folder,files: download the module (the go
# command verifies it against the checksum database), check its hash, and
# copy the files from the folder to $(THIRD_PARTY), writable (the module
# cache is read-only: toolchain.md G5).
define fetch-protos
json=$$($(GO) mod download -json $(1)); \
dir=$$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p' <<<"$$json"); \
sum=$$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$$/\1/p' <<<"$$json"); \
if [ "$$sum" != '$(2)' ]; then echo "$(1): module hash $$sum, want $(2)" >&2; exit 1; fi; \
for f in $(4); do install -D -m 0644 "$$dir/$(3)/$$f" "$(THIRD_PARTY)/$$f"; done
endef

.PHONY: docs
docs: ## Regenerate what docs hold from code: docs/configuration.md from the settings, docs/top-protocol.md's code and method tables from internal/top, README's table of calls from the protos (tests fail when one is stale).
	$(GO) run ./cmd/servicecenterd config reference > docs/configuration.md
	$(GO) test -count=1 -run '^TestProtocolDocTables$$' ./internal/top -args -update
	$(GO) test -count=1 -run '^TestREADMECalls$$' ./internal/e2e/contract -args -update

.PHONY: fmt
fmt: ## Format the Go code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: fuzz
fuzz: ## Fuzz the TOP response decoder and the TMC frame decoder for FUZZTIME (default 2m) each.
	$(GO) test ./internal/topclient -run '^$$' -fuzz FuzzDecodeResponse -fuzztime $(FUZZTIME)
	$(GO) test ./internal/tmc/frame -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)

.PHONY: bench-client
bench-client: ## Benchmark the TOP client against a hand-written floor (BENCHCOUNT runs each).
	$(GO) test ./internal/topclient -run '^$$' -bench . -benchmem -count $(BENCHCOUNT)

# make bench knobs (also read from the environment): rounds (each runs
# every point once, the targets alternating in an order that changes from
# round to round; the report shows medians), time per point, warm-up per
# point, concurrencies, targets (a floor, b servicecenterd gRPC with the
# fixed upstream, c with the embedded emulator, d REST, e gRPC on
# PostgreSQL + Redis, f its REST) and methods. Targets e and f create a
# database on SCDBENCH_DATABASE_URL's server (default the local one) and
# use a key prefix of their own in SCDBENCH_REDIS_URL's Redis; both are
# removed at the end. Without them the run says so and measures the rest.
# (c) is not in the default: no goal uses it, and after its AssignWorker
# points servicecenterd keeps consuming its emulator's backlog of TMC
# messages for tens of seconds, which the points after it would compete
# with (add it with BENCH_TARGETS=a,b,c,d,e,f).
BENCH_ROUNDS      ?= 5
BENCH_DURATION    ?= 5s
BENCH_WARMUP      ?= 1s
BENCH_CONCURRENCY ?= 64
BENCH_TARGETS     ?= a,b,d,e,f
BENCH_METHODS     ?= GetWorkerTags,AssignWorker
BENCH_FLAGS       ?=
BENCH_PROFILE_ROUNDS ?= 1
BENCH_ARGS = -rounds $(BENCH_ROUNDS) -duration $(BENCH_DURATION) -warmup $(BENCH_WARMUP) -concurrency $(BENCH_CONCURRENCY) \
	-targets $(BENCH_TARGETS) -methods $(BENCH_METHODS) $(BENCH_FLAGS)

.PHONY: bench
bench: ## Benchmark servicecenterd against the floor: 5 alternated rounds, both deployments, gRPC and REST, at 64 callers (about 6 min); updates docs/performance.md.
	@bin=$$(mktemp -d); trap 'rm -rf "$$bin"' EXIT; \
	$(GO) build -o "$$bin/" ./cmd/servicecenterd ./cmd/scdbench; \
	"$$bin/scdbench" run -servicecenterd "$$bin/servicecenterd" -out bench/results -doc docs/performance.md $(BENCH_ARGS)

.PHONY: bench-profile
bench-profile: ## Like bench (one round: BENCH_PROFILE_ROUNDS), with CPU and allocation profiles of the servers at 64 callers (numbers perturbed; docs untouched).
	@bin=$$(mktemp -d); trap 'rm -rf "$$bin"' EXIT; \
	$(GO) build -o "$$bin/" ./cmd/scdbench; \
	"$$bin/scdbench" run -profile -out bench/results $(BENCH_ARGS) -rounds $(BENCH_PROFILE_ROUNDS)
	@echo "read a profile with: go tool pprof -top bench/results/<date>-profile/profiles/<name>.cpu.pprof"

.PHONY: bench-emulator
bench-emulator: ## Benchmark the TOP emulator (calls/s at 64 callers on loopback).
	$(GO) test ./internal/topemu -run '^$$' -bench . -benchmem

.PHONY: bench-blacklist
bench-blacklist: ## Import and sync 100k and 1M blacklist entries through a real servicecenterd; entries/s and peak RSS (BENCH_SIZES=n,m to change; BENCH_STORES=sqlite,postgres compares the stores).
	$(GO) test -tags blacklistbench ./internal/e2e/blacklist -run '^TestBenchBlacklist$$' -count=1 -v -timeout 60m

.PHONY: bench-events
bench-events: ## TMC messages through a real servicecenterd to a watcher: events/s, publish-to-watcher latency, peak RSS with 10k unconfirmed (BENCH_EVENTS=n, BENCH_DATABASE_URL for PostgreSQL).
	$(GO) test -tags eventsbench ./internal/e2e/events -run '^TestBench' -count=1 -v -timeout 30m

.PHONY: emulator
emulator: ## Run the TOP emulator alone on 127.0.0.1:8800 (demo data, in memory); not beside make run, whose embedded emulator has that address.
	$(GO) build -o $(RUN_BIN) ./cmd/servicecenterd
	@exec $(RUN_BIN) emulator
