package wasmhost_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/internal/idp"
	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
	"github.com/keycard-gw/keycard/internal/testing/wasmtest"
	"github.com/keycard-gw/keycard/internal/wasmhost"
)

// benchCase is one kind of request: its headers, cycled from a pool so
// that "first-seen" requests really are first seen.
type benchCase struct {
	name      string
	pool      [][][2]string
	cacheSize int // token cache size for the run; 1 defeats it
	allow     bool
}

func benchCases(b testing.TB, cfg func(int) *compiler.Result) []benchCase {
	res := cfg(0)
	keys := map[string]string{
		"rsa":     filepath.Join("..", "..", "testdata", "keys", "bench-rs256.key.pem"),
		"partner": filepath.Join("..", "..", "testdata", "keys", "partner-es256.key.pem"),
	}
	pool := func(issuer string, n int) [][][2]string {
		var out [][][2]string
		for i := range n {
			tok, err := mint.Token(res.Config, issuer, keys[issuer], mint.Claims{Subject: "u1", Level: 1, JTI: fmt.Sprint(i)}, fixedNow)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, [][2]string{{"authorization", "Bearer " + tok}})
		}
		return out
	}
	hs := pool("login", 64)
	browser := append(wasmtest.BrowserHeaders(), hs[0]...)
	return []benchCase{
		{"public", [][][2]string{nil}, 0, true},
		{"cached-token", hs[:1], 0, true},
		{"browser", [][][2]string{browser}, 0, true},
		{"first-HS256", hs, 1, true},
		{"first-RS256", pool("rsa", 16), 1, true},
		{"first-ES256", pool("partner", 16), 1, true},
		{"invalid-token", [][][2]string{{{"authorization", "Bearer " + string(hs[0][0][1][7:len(hs[0][0][1])-3]) + "AAA"}}}, 1, false},
	}
}

func benchPolicy(b testing.TB, cacheSize int) *compiler.Result {
	b.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	res, err := compiler.CompileFiles([]string{filepath.Join("..", "..", "testdata", "bench", "policy.yaml")}, compiler.Settings{SidecarKey: sidecartest.GatewayKey})
	if err != nil {
		b.Fatal(err)
	}
	res.Config.Options.TokenCacheSize = cacheSize
	return res
}

// BenchmarkRequest measures one request's cost through the module in
// wazero (context create, headers, decision, done, delete) and the same
// decision natively, in the same run. When KEYCARD_BENCH_BEFORE names
// another build of the module (an older commit's), its rows
// (wasm-before, wasm-kong-before) run in this same host next to the
// module's own: make bench-before runs the two in rounds.
func BenchmarkRequest(b *testing.B) {
	mods := []struct {
		name   string
		module []byte
	}{{"", module(b)}}
	if file := os.Getenv("KEYCARD_BENCH_BEFORE"); file != "" {
		before, err := os.ReadFile(file)
		if err != nil {
			b.Fatal(err)
		}
		mods = append(mods, struct {
			name   string
			module []byte
		}{"-before", before})
	}
	for _, bc := range benchCases(b, func(n int) *compiler.Result { return benchPolicy(b, n) }) {
		res := benchPolicy(b, bc.cacheSize)
		path := "/v1/items/7"
		if bc.name == "public" {
			path = "/"
		}
		for _, m := range mods {
			// Kong's flavour (the host's extra callbacks: request body,
			// response headers and body, log, done; the request line
			// read) for the two usual requests.
			for _, gw := range []string{config.GatewayEnvoy, config.GatewayKong} {
				row := "wasm"
				if gw == config.GatewayKong {
					if bc.name != "public" && bc.name != "cached-token" && bc.name != "browser" {
						continue
					}
					row = "wasm-kong"
				}
				b.Run(row+m.name+"/"+bc.name, func(b *testing.B) {
					vm := wasmtest.VM(b, m.module, wasmhost.Options{Gateway: gw, Now: func() time.Time { return fixedNow }, Cache: compileCache}, gatewayJSON(b, res, gw))
					ctx := context.Background()
					i := 0
					for b.Loop() {
						r, err := vm.Do(ctx, wasmhost.Request{Method: "GET", Authority: "api.example", Path: path, Headers: bc.pool[i%len(bc.pool)]})
						if err != nil || r.Allowed() != bc.allow {
							b.Fatalf("%v %+v", err, r.Response)
						}
						i++
					}
				})
			}
		}
		b.Run("native/"+bc.name, func(b *testing.B) {
			e, err := filter.New(res.Config, res.Table, func() time.Time { return fixedNow })
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d := e.Decide(&filter.Request{Method: "GET", Authority: "api.example", Path: path, Headers: filter.HeaderList(bc.pool[i%len(bc.pool)])})
				if d.Allow != bc.allow {
					b.Fatal(d)
				}
				i++
			}
		})
	}
}

// BenchmarkCachedState compares, in one run, a cached token without
// session state and a cached token whose (cached) sidecar answer the
// decision also uses.
func BenchmarkCachedState(b *testing.B) {
	res := benchPolicy(b, 0)
	tok, err := mint.Token(res.Config, "login", "", mint.Claims{Subject: "u1", Level: 1, JTI: "s1"}, fixedNow)
	if err != nil {
		b.Fatal(err)
	}
	headers := [][2]string{{"authorization", "Bearer " + tok}}
	for _, stateful := range []bool{false, true} {
		name := "no-sidecar"
		opts := wasmhost.Options{}
		cfg := *res.Config
		if stateful {
			name = "cached-sidecar-answer"
			sc := sidecartest.Start(b, cfg.Policy)
			cfg.Sessions = config.Sessions{State: config.StateSidecar, CacheMillis: 60_000}
			opts.Caller = wasmhost.HTTPCaller(http.DefaultClient, map[string]string{cfg.Sidecar.Upstream: sc.URL})
		}
		conf, _ := json.Marshal(&cfg)
		vm := newVM(b, opts, conf)
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				r, err := vm.Do(ctx, wasmhost.Request{Method: "GET", Authority: "api.example", Path: "/v1/items/7", Headers: headers})
				if err != nil || !r.Allowed() {
					b.Fatalf("%v %+v", err, r)
				}
			}
		})
	}
}

// BenchmarkRemoteKeys compares, in one run, the cached-token request with
// every key pinned in the configuration and with the keys held by a real
// sidecar: the login issuer's secret at run time and an OpenID issuer
// whose set comes from a provider on loopback. The keys are fetched once,
// by the first request; what is measured is the cost that stays.
func BenchmarkRemoteKeys(b *testing.B) {
	pinned := benchPolicy(b, 0)
	tok, err := mint.Token(pinned.Config, "login", "", mint.Claims{Subject: "u1", Level: 1, JTI: "1"}, fixedNow)
	if err != nil {
		b.Fatal(err)
	}
	headers := [][2]string{{"authorization", "Bearer " + tok}}
	p, err := idp.Start("", "")
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "bench", "policy.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	remoteSrc := strings.Replace(string(src), "secret: {env: KEYCARD_DEMO_SECRET}", "secret: {runtime: LOGIN_SECRET}\n    - name: sso\n      algorithms: [ES256]\n      oidc: {issuer: \""+p.URL+"\"}", 1)
	dir := b.TempDir()
	for _, f := range []string{"rs256.pub.pem", "partner.jwks.json"} {
		data, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "bench", f))
		os.WriteFile(filepath.Join(dir, f), data, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(remoteSrc), 0o644)
	remote, err := compiler.CompileFiles([]string{filepath.Join(dir, "policy.yaml")}, compiler.Settings{SidecarKey: sidecartest.GatewayKey})
	if err != nil {
		b.Fatal(err)
	}
	sc := sidecartest.StartHolding(b, remote.Config, p.Client(), func(string) ([]byte, error) { return []byte(demoSecret), nil })
	caller := wasmhost.HTTPCaller(http.DefaultClient, map[string]string{remote.Config.Sidecar.Upstream: sc.URL})
	for _, v := range []struct {
		name string
		res  *compiler.Result
	}{{"pinned", pinned}, {"remote", remote}} {
		b.Run(v.name, func(b *testing.B) {
			vm := newVM(b, wasmhost.Options{Caller: caller}, configJSON(b, v.res))
			ctx := context.Background()
			for b.Loop() {
				r, err := vm.Do(ctx, wasmhost.Request{Method: "GET", Authority: "api.example", Path: "/v1/items/7", Headers: headers})
				if err != nil || !r.Allowed() {
					b.Fatalf("%v %+v", err, r.Response)
				}
			}
		})
	}
}

// BenchmarkConditions compares, in one run, a cached token on a route
// with two scopes and a tenant condition bound to a path parameter with
// the same request on a route without them, natively and in wazero.
func BenchmarkConditions(b *testing.B) {
	res := benchPolicy(b, 4096)
	tok, err := mint.Token(res.Config, "login", "", mint.Claims{Subject: "u", Level: 1, Scopes: []string{"items:read", "items:write"}, Extra: map[string]any{"tenant_id": "42"}, TTL: time.Hour}, fixedNow)
	if err != nil {
		b.Fatal(err)
	}
	h := [][2]string{{"authorization", "Bearer " + tok}}
	for _, path := range []string{"/t/42/items", "/scoped/42/items"} {
		name := "plain"
		if strings.HasPrefix(path, "/scoped") {
			name = "scopes-and-tenant"
		}
		b.Run("wasm/"+name, func(b *testing.B) {
			vm := newVM(b, wasmhost.Options{}, configJSON(b, res))
			ctx := context.Background()
			for b.Loop() {
				if r, err := vm.Do(ctx, wasmhost.Request{Method: "GET", Authority: "api.example", Path: path, Headers: h}); err != nil || !r.Allowed() {
					b.Fatalf("%v %+v", err, r.Response)
				}
			}
		})
		b.Run("native/"+name, func(b *testing.B) {
			e, err := filter.New(res.Config, res.Table, func() time.Time { return fixedNow })
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if d := e.Decide(&filter.Request{Method: "GET", Authority: "api.example", Path: path, Headers: filter.HeaderList(h)}); !d.Allow {
					b.Fatal(d)
				}
			}
		})
	}
}

// scalePolicy is one service with n routes shaped like a real API (a
// literal, a parameter, a rest per three routes, as the table's own
// benchmark).
func scalePolicy(n int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\nname: scale\nidentity:\n  issuers: [{name: login, algorithms: [HS256], secret: {env: SCALE_SECRET}}]\nlevels: {public: 0, user: 1, admin: 2}\nservices:\n  - name: api\n    hosts: [api.example]\n    routes:\n")
	for i := range n {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "      - {path: /v1/r%d, access: public}\n", i)
		case 1:
			fmt.Fprintf(&b, "      - {path: \"/v1/r%d/{id}\", access: user}\n", i-1)
		default:
			fmt.Fprintf(&b, "      - {path: \"/v1/r%d/{id}/items/**\", access: admin}\n", i-2)
		}
	}
	return []byte(b.String())
}

// BenchmarkScale is the cost as the policy grows, at 1k, 10k, 100k and
// 1M routes: compiling it (and the table's size), a native lookup, and
// loading its configuration into the filter inside wazero (and the
// module's memory after that). The timed load is a reload, the old
// engine still held while the new one is built; first-load-ms is the
// VM's first (instantiation included). Run compile and load with
// -benchtime 1x (one compile of a million routes takes seconds) and
// lookup on its own with the default benchtime; a sub-benchmark run
// without its compile compiles untimed first.
func BenchmarkScale(b *testing.B) {
	b.Setenv("SCALE_SECRET", "scale-secret-0123456789abcdef0123456789")
	for _, n := range []int{1_000, 10_000, 100_000, 1_000_000} {
		src := map[string][]byte{"scale.yaml": scalePolicy(n)}
		var res *compiler.Result
		b.Run(fmt.Sprintf("compile/routes=%d", n), func(b *testing.B) {
			for b.Loop() {
				var err error
				if res, err = compiler.Compile([]string{"scale.yaml"}, src, compiler.Settings{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(res.Config.Table))/float64(n), "table-bytes/route")
			b.ReportMetric(float64(len(res.Config.Table))/(1<<20), "table-MiB")
		})
		compiled := func(b *testing.B) *compiler.Result {
			if res == nil { // its compile was filtered out: compile untimed
				var err error
				if res, err = compiler.Compile([]string{"scale.yaml"}, src, compiler.Settings{}); err != nil {
					b.Fatal(err)
				}
			}
			return res
		}
		b.Run(fmt.Sprintf("lookup/routes=%d", n), func(b *testing.B) {
			res := compiled(b)
			e, err := filter.New(res.Config, res.Table, time.Now)
			if err != nil {
				b.Fatal(err)
			}
			path := fmt.Sprintf("/v1/r%d", (n/2)/3*3)
			req := &filter.Request{Method: "GET", Authority: "api.example", Path: path, Headers: filter.HeaderList(nil)}
			if d := e.Decide(req); !d.Allow {
				b.Fatalf("%s: %v", path, d)
			}
			for b.Loop() {
				e.Decide(req)
			}
		})
		b.Run(fmt.Sprintf("load-in-wazero/routes=%d", n), func(b *testing.B) {
			_, conf := wasmtest.Config(b, compiled(b).Config, config.GatewayEnvoy, "")
			ctx := context.Background()
			h := wasmtest.Host(b, module(b), wasmhost.Options{Cache: compileCache})
			start := time.Now()
			vm, err := h.NewVM(ctx, conf)
			if err != nil {
				b.Fatal(err)
			}
			first := time.Since(start)
			pages := vm.MemoryPages()
			for b.Loop() {
				if err := vm.Configure(ctx, conf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(vm.MemoryPages())*64/1024, "memory-MiB")
			b.ReportMetric(float64(pages)*64/1024, "memory-after-first-load-MiB")
			b.ReportMetric(float64(first.Milliseconds()), "first-load-ms")
			b.ReportMetric(float64(len(conf))/(1<<20), "config-MiB")
		})
	}
}
