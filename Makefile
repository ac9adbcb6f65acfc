# Keycard. `make demo` runs the example; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# The example policy's HMAC secret. A demo value: real secrets come from
# the deployment's environment, never from git.
export KEYCARD_DEMO_SECRET ?= keycard-demo-secret-not-for-production

WASM_PKGS := ./table/... ./config/... ./filter/...

.PHONY: all build wasm release sidecar-image test redis-server check bench bench-before bench-kong bench-v8 bench-wasm bench-floor bench-sidecar bench-anchors demo fuzz clean

all: build wasm

# keycard with the filter module of the same commit embedded (the
# keycard_embed tag), so the binary deploys from any directory.
build: wasm
	cp build/keycard.wasm cmd/keycard/keycard.wasm
	$(GO) build -tags keycard_embed -ldflags '$(LDFLAGS)' -o build/keycard ./cmd/keycard

wasm:
	@mkdir -p build
	$(GO) run ./internal/wasmbuild/wasmbuild -o build/keycard.wasm

# The sidecar's container image as an OCI layout, without a Docker
# daemon: a static linux/amd64 keycard and nothing else, non-root.
# Push the layout with crane, skopeo or oras.
sidecar-image: build
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -tags keycard_embed -ldflags '$(LDFLAGS)' -o build/linux-amd64/keycard ./cmd/keycard
	rm -rf build/sidecar-image
	./build/keycard image sidecar --binary build/linux-amd64/keycard --arch amd64 -o build/sidecar-image --tag $(VERSION)

# Release tarballs for linux and darwin on amd64 and arm64, each binary
# with the module embedded, and their sha256 sums.
RELEASE_TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
release: wasm
	@rm -rf build/release && mkdir -p build/release
	cp build/keycard.wasm cmd/keycard/keycard.wasm
	set -e; for t in $(RELEASE_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; dir=build/release/keycard-$(VERSION)-$$os-$$arch; mkdir -p $$dir; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -tags keycard_embed -ldflags '$(LDFLAGS)' -o $$dir/keycard ./cmd/keycard; \
		cp README.md LICENSE $$dir/; cp -r docs $$dir/docs; tar -C build/release -czf build/release/keycard-$(VERSION)-$$os-$$arch.tar.gz keycard-$(VERSION)-$$os-$$arch; rm -rf $$dir; \
	done
	cp build/keycard.wasm build/release/keycard-$(VERSION).wasm
	cd build/release && sha256sum *.tar.gz *.wasm > SHA256SUMS
	@cat build/release/SHA256SUMS

# Tests need redis-server (the sidecar's are run against a real one).
test: redis-server
	@kong=$${KEYCARD_NGX_WASM:-../shared/ngxwasm/nginx}; envoy=$${KEYCARD_ENVOY_HOST:-../shared/envoyhost}; \
	if [ -e "$$kong" ]; then echo "real Kong host: $$kong"; else echo "real Kong host tests skip: none at $$kong (set KEYCARD_NGX_WASM)"; fi; \
	if [ -e "$$envoy/bin/envoyhost" ] || [ -e "$$envoy/envoyhost-v8" ]; then echo "Envoy host core: $$envoy"; else echo "Envoy host core tests skip: none at $$envoy (set KEYCARD_ENVOY_HOST)"; fi; \
	if command -v node >/dev/null && command -v npm >/dev/null; then echo "interop (jose, oidc-provider): node $$(node --version)"; else echo "interop tests skip: no node and npm on PATH"; fi
	$(GO) test -count=1 ./...
	@echo "the module in wazero again, built to overwrite each request's host data after it (keycard_poison)"
	KEYCARD_WASM_TAGS=keycard_poison $(GO) test -count=1 ./internal/wasmhost
	cd bench && $(GO) test -count=1 ./wasmfloor

redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "installing redis-server"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq redis-server >/dev/null; fi; }

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet $(WASM_PKGS)
	GOBIN=$(CURDIR)/build/tools $(GO) install $(STATICCHECK)
	build/tools/staticcheck ./...
	GOOS=wasip1 GOARCH=wasm build/tools/staticcheck $(WASM_PKGS)
	$(GO) mod tidy -diff
	cd bench && $(GO) vet ./... && ../build/tools/staticcheck ./... && $(GO) mod tidy -diff

# Benchmarks: the table, the compiler, the decision natively, and whole
# requests through the real module in wazero next to the same decision
# natively (BENCHMARKS.md).
bench:
	@mkdir -p build
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./table ./compiler ./filter/... ./internal/wasmhost | tee build/bench.txt

# The module against another build of it (BEFORE=old.wasm, built at its
# commit with go run ./internal/wasmbuild/wasmbuild -o old.wasm) in the
# same wazero host: public, cached-token and browser requests in both
# gateways' flavours. Each of ROUNDS rounds runs old and new once (go test -count
# repeats each benchmark back to back, which would measure the two at
# different times of a drifting machine): compare medians per row.
ROUNDS ?= 5
BENCH_PAIR = BenchmarkRequest/^(wasm|wasm-kong|wasm-before|wasm-kong-before)$$/^(public|cached-token|browser)$$
bench-before:
	@test -n "$(BEFORE)" || { echo "usage: make bench-before BEFORE=old.wasm [ROUNDS=5]"; exit 2; }
	@test -f "$(BEFORE)" || { echo "bench-before: $(BEFORE): no such file"; exit 2; }
	@mkdir -p build
	$(GO) test -c -o build/wasmhost.test ./internal/wasmhost
	@rm -f build/bench-before.txt
	cd internal/wasmhost && for i in $$(seq $(ROUNDS)); do \
		KEYCARD_BENCH_BEFORE=$(abspath $(BEFORE)) ../../build/wasmhost.test -test.run '^$$' -test.bench '$(BENCH_PAIR)' -test.count 1 \
			>> ../../build/bench-before.txt || { tail -n 20 ../../build/bench-before.txt; exit 1; }; \
	done
	@grep '^Benchmark' build/bench-before.txt

# The filter in the real Kong host (nginx + ngx_wasm_module; skipped when
# none is found): worker time per request with the filter, with filters
# that do nothing and with none, the servers taken in turn over eleven
# rounds of 2,000 requests, and latency at concurrency 1.
# KEYCARD_BENCH_BEFORE=old.wasm serves another build beside this one.
bench-kong:
	@mkdir -p build
	$(GO) test -run '^$$' -bench Kong -benchtime 2000x -count 1 ./internal/testing/kongtest | tee build/bench-kong.txt

# The module on V8, the engine of Kong's host, under Node.js
# (KEYCARD_NODE, else node on PATH; Debian 12's nodejs 18 is Kong's V8
# 10.2): each request hot and with the caches flushed before it, beside
# the Go filter that does nothing; KEYCARD_BENCH_BEFORE=old.wasm adds
# another build, KEYCARD_V8_PROFILE=GATEWAY/KIND (kong/public, ...) the
# filter's functions by self time, which the real host cannot name.
bench-v8:
	@mkdir -p build
	$(GO) test -v -run '^$$' -bench V8 -benchtime 1x -count 1 ./internal/testing/v8test | tee build/bench-v8.txt

# The filter's own benchmarks compiled for wasip1 and run inside wazero
# (its CLI is installed into build/tools): what each piece costs in wasm.
bench-wasm:
	@mkdir -p build/tools
	GOBIN=$(CURDIR)/build/tools $(GO) install github.com/tetratelabs/wazero/cmd/wazero@v1.12.0
	PATH=$(CURDIR)/build/tools:$$PATH GOWASIRUNTIME=wazero GOOS=wasip1 GOARCH=wasm \
		$(GO) test -exec "$$($(GO) env GOROOT)/lib/wasm/go_wasip1_wasm_exec" -run '^$$' -bench . -count 5 ./filter ./filter/token | tee build/bench-wasm.txt

# How fast RS256's and ES256's arithmetic can be inside wazero at all:
# the standard library's checks beside a bare s^e mod n by math/big and
# by a Montgomery multiplication written for wasm (bench/wasmfloor).
bench-floor:
	@mkdir -p build/tools
	GOBIN=$(CURDIR)/build/tools $(GO) install github.com/tetratelabs/wazero/cmd/wazero@v1.12.0
	cd bench && PATH=$(CURDIR)/build/tools:$$PATH GOWASIRUNTIME=wazero GOOS=wasip1 GOARCH=wasm \
		$(GO) test -exec "$$($(GO) env GOROOT)/lib/wasm/go_wasip1_wasm_exec" -bench . -count 5 ./wasmfloor | tee ../build/bench-floor.txt

# The sidecar measured from a separate process (bench/sidecarload): a
# real redis-server and `keycard sidecar`, GET /v1/state offered at 5k,
# 10k and 20k answers/s for 20 s each, open loop over keep-alive; then
# again with the sidecar on one core (GOMAXPROCS=1).
bench-sidecar: redis-server
	@mkdir -p build
	$(GO) build -o build/keycard-bench ./cmd/keycard
	cd bench && { $(GO) run ./sidecarload -keycard ../build/keycard-bench && \
		$(GO) run ./sidecarload -keycard ../build/keycard-bench -sidecar-procs 1; } | tee ../build/bench-sidecar.txt

# Keycard's decision next to OPA's prepared evaluation (map lookup and
# glob list) and the seed plugins' regex scan, on the same generated
# policies of 100, 1k and 10k routes (bench/anchors, its own module).
bench-anchors:
	@mkdir -p build
	cd bench && $(GO) test -run '^$$' -bench . -count 5 ./anchors | tee ../build/bench-anchors.txt

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./table
	$(GO) test -run '^$$' -fuzz FuzzPath -fuzztime 30s ./filter/httppath
	$(GO) test -run '^$$' -fuzz FuzzCompile -fuzztime 30s ./compiler
	$(GO) test -run '^$$' -fuzz FuzzObject -fuzztime 30s ./state/jsonscan
	$(GO) test -run '^$$' -fuzz FuzzReadClaims -fuzztime 15s ./state
	$(GO) test -run '^$$' -fuzz FuzzExtract -fuzztime 15s ./filter/token
	$(GO) test -run '^$$' -fuzz FuzzOriginTarget -fuzztime 15s ./filter
	$(GO) test -run '^$$' -fuzz FuzzNginxURI -fuzztime 15s ./internal/wasmhost
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 15s ./filter/abi/headermap
	$(GO) test -run '^$$' -fuzz FuzzParseJWKS -fuzztime 30s ./config
	$(GO) test -run '^$$' -fuzz FuzzDecodeFast -fuzztime 30s ./config
	$(GO) test -run '^$$' -fuzz FuzzDecodeKeySet -fuzztime 15s ./state

# The local gateway on the example policy: the real filter in wazero, the
# sidecar and an embedded Redis; prints curl lines with fresh tokens.
demo: build
	./build/keycard check policies/
	./build/keycard test policies/
	./build/keycard dev policies/ --demo

clean:
	rm -rf build
