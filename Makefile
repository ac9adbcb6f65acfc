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

.PHONY: all build wasm test check bench demo fuzz clean

all: build wasm

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o build/keycard ./cmd/keycard

wasm:
	@mkdir -p build
	$(GO) run ./internal/wasmbuild/wasmbuild -o build/keycard.wasm

test:
	$(GO) test -count=1 ./...

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet $(WASM_PKGS)
	GOBIN=$(CURDIR)/build/tools $(GO) install $(STATICCHECK)
	build/tools/staticcheck ./...
	GOOS=wasip1 GOARCH=wasm build/tools/staticcheck $(WASM_PKGS)
	$(GO) mod tidy -diff

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./table ./compiler ./filter/... | tee build/bench.txt

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./table
	$(GO) test -run '^$$' -fuzz FuzzPath -fuzztime 30s ./filter/httppath
	$(GO) test -run '^$$' -fuzz FuzzCompile -fuzztime 30s ./compiler

demo: build
	./build/keycard check policies/
	./build/keycard test policies/
	./build/keycard explain policies/ GET a.shop.example /
	./build/keycard explain policies/ GET a.shop.example /auth --no-token
	./build/keycard explain policies/ GET api.shop.example /a/admin/users --level user

clean:
	rm -rf build
