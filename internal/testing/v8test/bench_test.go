package v8test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
	"github.com/keycard-gw/keycard/internal/testing/wasmtest"
	"github.com/keycard-gw/keycard/internal/wasmbuild"
	"github.com/keycard-gw/keycard/internal/wasmhost"
)

var root = filepath.Join("..", "..", "..")

// BenchmarkV8 measures BenchmarkRequest's requests (a public route, a
// cached token, a browser's request with a cached token) through the
// module on V8, in each gateway's flavour, next to the Go filter that
// does nothing (kongtest's testdata/noop: Go's runtime on every
// callback) and, when KEYCARD_BENCH_BEFORE names another build, that
// one. Modules are measured in turn within one node process. It
// reports each module's median nanoseconds per request (ns/req-NAME)
// and the filter's over the others (ns-over-NAME):
//
//   - hot: requests back to back, in batches, the caches warm;
//   - cold: each request after a flush of the caches (512 KiB of code
//     run, 2 MiB of data touched), as on a worker that serves other
//     requests and its own proxying in between.
//
// KEYCARD_V8_PROFILE=GATEWAY/KIND (kong/public, envoy/cached-token, ...)
// adds a hot run of the filter alone under Node's profiler and logs its
// functions by self time per request.
func BenchmarkV8(b *testing.B) {
	node, err := FindNode()
	if err != nil {
		b.Skip("V8 benchmarks skipped: " + err.Error())
	}
	dir := b.TempDir()
	mods := []Module{{"filter", build(b, "./filter/wasm", filepath.Join(dir, "keycard.wasm"))}, {"noopgo", build(b, "./internal/testing/kongtest/testdata/noop", filepath.Join(dir, "noop.wasm"))}}
	if before := os.Getenv("KEYCARD_BENCH_BEFORE"); before != "" {
		abs, err := filepath.Abs(before)
		if err != nil {
			b.Fatal(err)
		}
		mods = append(mods, Module{"before", abs})
	}
	profile := os.Getenv("KEYCARD_V8_PROFILE")
	for _, gw := range []string{config.GatewayEnvoy, config.GatewayKong} {
		conf, tok := wasmtest.BenchPolicy(b, root, gw, sidecartest.GatewayKey)
		for _, k := range kinds(tok) {
			headers, props, err := wasmhost.Presented(wasmhost.Options{Gateway: gw}, wasmhost.Request{Method: "GET", Authority: "api.example", Path: k.path, Headers: k.headers})
			if err != nil {
				b.Fatal(err)
			}
			spec := Spec{Gateway: gw, Config: conf, Modules: mods, Headers: headers, Properties: props, Warm: 20000}
			for _, mode := range []string{"hot", "cold"} {
				b.Run(mode+"/"+gw+"/"+k.name, func(b *testing.B) {
					s := spec
					s.Requests = 20000
					if mode == "cold" {
						s.Cold, s.Requests, s.FlushCode, s.FlushData = true, 4000, 512<<10, 2<<20
					}
					res := run(b, node, s, k.sets)
					for _, r := range res {
						b.ReportMetric(r.Median(), "ns/req-"+r.Name)
					}
					for i := range res[1:] {
						b.ReportMetric(res[0].Over(&res[i+1]), "ns-over-"+res[i+1].Name)
					}
				})
			}
			if profile == gw+"/"+k.name {
				b.Run("profile/"+gw+"/"+k.name, func(b *testing.B) {
					s := spec
					s.Modules, s.Requests, s.Profile = mods[:1], 100000, true
					res := run(b, node, s, k.sets)
					var top strings.Builder
					for i, f := range res[0].Profile {
						if i == 30 {
							break
						}
						fmt.Fprintf(&top, "  %7.0f ns  %s\n", f.NS, strings.TrimPrefix(f.Name, "github.com_keycard_gw_keycard_"))
					}
					b.Logf("%s, %s: %.0f ns per request; self time per request, by function:\n%s", gw, k.name, res[0].Median(), top.String())
				})
			}
		}
	}
}

type kind struct {
	name    string
	path    string
	headers [][2]string
	sets    int // identity headers the filter sets per request
}

func kinds(token string) []kind {
	auth := [2]string{"authorization", "Bearer " + token}
	return []kind{
		{"public", "/", nil, 0},
		{"cached-token", "/v1/items/7", [][2]string{auth}, 2},
		{"browser", "/v1/items/7", append(wasmtest.BrowserHeaders(), auth), 2},
	}
}

// run runs spec and checks that the filter let every request through
// with its identity headers set.
func run(b *testing.B, node string, spec Spec, sets int) []Result {
	res, eng, err := Run(node, spec)
	if err != nil {
		b.Fatal(err)
	}
	if got, want := res[0].Sets, sets*res[0].Requests; got != want {
		b.Fatalf("the filter set %d request headers over %d requests, want %d", got, res[0].Requests, want)
	}
	b.Logf("node %s, V8 %s", eng.Node, eng.V8)
	return res
}

func build(b testing.TB, pkg, out string) string {
	if err := wasmbuild.Build(root, pkg, out); err != nil {
		b.Fatal(err)
	}
	return out
}
