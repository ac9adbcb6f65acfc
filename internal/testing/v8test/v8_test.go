package v8test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
	"github.com/keycard-gw/keycard/internal/testing/wasmtest"
	"github.com/keycard-gw/keycard/internal/wasmhost"
)

// TestHost runs the module through host.js: what the benchmarks measure
// must be the filter deciding, so every request passes (a local answer
// fails the run) and one with a token gets its two identity headers.
func TestHost(t *testing.T) {
	node, err := FindNode()
	if err != nil {
		t.Skip("V8 host skipped: " + err.Error())
	}
	dir := t.TempDir()
	module := build(t, "./filter/wasm", filepath.Join(dir, "keycard.wasm"))
	for _, tc := range []struct {
		gw, kind string
	}{{config.GatewayKong, "cached-token"}, {config.GatewayEnvoy, "public"}} {
		t.Run(tc.gw+"/"+tc.kind, func(t *testing.T) {
			conf, tok := wasmtest.BenchPolicy(t, root, tc.gw, sidecartest.GatewayKey)
			for _, k := range kinds(tok) {
				if k.name != tc.kind {
					continue
				}
				headers, props, err := wasmhost.Presented(wasmhost.Options{Gateway: tc.gw}, wasmhost.Request{Method: "GET", Authority: "api.example", Path: k.path, Headers: k.headers})
				if err != nil {
					t.Fatal(err)
				}
				res, eng, err := Run(node, Spec{Gateway: tc.gw, Config: conf, Modules: []Module{{"filter", module}}, Headers: headers, Properties: props, Warm: 10, Requests: 500})
				if err != nil {
					t.Fatal(err)
				}
				if got, want := res[0].Sets, k.sets*500; got != want {
					t.Errorf("%d identity headers set over 500 requests, want %d", got, want)
				}
				if res[0].Median() <= 0 || eng.V8 == "" {
					t.Errorf("result %+v from V8 %q", res[0], eng.V8)
				}
			}
		})
	}
}

// TestSelfTimes reads a CPU profile as V8 writes it: only samples inside
// the span count, each for the time until the next sample.
func TestSelfTimes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.cpuprofile")
	profile := `{"nodes":[{"id":1,"callFrame":{"functionName":"(root)","url":""}},{"id":2,"callFrame":{"functionName":"match","url":""}},{"id":3,"callFrame":{"functionName":"","url":"file:///host.js"}}],
"startTime":1000,"endTime":2000,"samples":[1,2,2,3,2,1],"timeDeltas":[0,100,50,50,150,300]}`
	if err := os.WriteFile(file, []byte(profile), 0o600); err != nil {
		t.Fatal(err)
	}
	// Samples at 1000 (root), 1100, 1150 (match), 1200 (host.js), 1350
	// (match), 1650 (root); the span [1100, 1350) holds the middle three:
	// match for 50 + 50 µs, host.js for 150, over 10 requests.
	got, err := selfTimes(file, [2]int64{1100, 1350}, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []FunctionTime{{"(file:///host.js)", 15000}, {"match", 10000}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %v, want %v", got, want)
		}
	}
}
