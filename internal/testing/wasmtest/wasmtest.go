// Package wasmtest starts the filter module in the wazero host for a
// test: compiled, configured, and closed when the test ends.
package wasmtest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/internal/wasmbuild"
	"github.com/keycard-gw/keycard/internal/wasmhost"
)

// Host compiles a module; it closes when the test ends.
func Host(t testing.TB, module []byte, opts wasmhost.Options) *wasmhost.Host {
	t.Helper()
	h, err := wasmhost.Compile(context.Background(), module, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// VM compiles a module and starts a VM configured with conf.
func VM(t testing.TB, module []byte, opts wasmhost.Options, conf []byte) *wasmhost.VM {
	t.Helper()
	vm, err := Host(t, module, opts).NewVM(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// Config is cfg as the module gets it in a gateway's flavour: named for
// that gateway and, when sidecarURL is given on Kong, with the sidecar's
// upstream as Kong's call-out takes it (host:port; on Envoy it names a
// cluster, which the test's caller maps to the URL). It returns the
// copy and its JSON.
func Config(t testing.TB, cfg *config.Config, gateway, sidecarURL string) (*config.Config, []byte) {
	t.Helper()
	c := *cfg
	c.Gateway = gateway
	if gateway == config.GatewayKong && sidecarURL != "" {
		c.Sidecar.Upstream = strings.TrimPrefix(sidecarURL, "http://")
	}
	data, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return &c, data
}

// Module builds the filter module of the checkout at root (wasmbuild
// caches it), with the build tags KEYCARD_WASM_TAGS lists (comma-separated:
// keycard_poison makes a module that overwrites each request's host data
// after it).
func Module(t testing.TB, root string) []byte {
	t.Helper()
	var tags []string
	if s := os.Getenv("KEYCARD_WASM_TAGS"); s != "" {
		tags = strings.Split(s, ",")
	}
	m, err := wasmbuild.Module(root, tags...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// BenchPolicy compiles the benchmarks' policy (testdata/bench/policy.yaml
// of the checkout at root, with its demo secret) for gateway, writes the
// filter configuration to a file of the test's and mints a token of its
// login issuer that the policy's routes accept.
func BenchPolicy(t testing.TB, root, gateway, sidecarKey string) (file, token string) {
	t.Helper()
	t.Setenv("KEYCARD_DEMO_SECRET", "keycard-demo-secret-not-for-production")
	res, err := compiler.CompileFiles([]string{filepath.Join(root, "testdata", "bench", "policy.yaml")}, compiler.Settings{SidecarKey: sidecarKey, Gateway: gateway})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(res.Config)
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), gateway+".json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	token, err = mint.Token(res.Config, "login", "", mint.Claims{Subject: "u1", Level: 1}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return file, token
}

// BrowserHeaders are the dozen headers a browser's request carries
// besides its token: what each header costs (the map handed over, the
// walks) shows in the benchmarks that add them.
func BrowserHeaders() [][2]string {
	return [][2]string{
		{"user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"},
		{"accept", "application/json, text/plain, */*"},
		{"accept-language", "en-GB,en;q=0.9"},
		{"accept-encoding", "gzip, deflate, br, zstd"},
		{"referer", "https://app.example/orders/7"},
		{"cookie", "_ga=GA1.1.1234567890.1700000000; theme=dark; csrftoken=Zk3m9Qx0aB"},
		{"sec-fetch-site", "same-site"},
		{"sec-fetch-mode", "cors"},
		{"sec-fetch-dest", "empty"},
		{"x-forwarded-for", "203.0.113.7"},
		{"x-forwarded-proto", "https"},
		{"x-request-id", "3f9c1e2a-8b7d-4c6e-9a1f-0d2e3b4c5a6f"},
	}
}
