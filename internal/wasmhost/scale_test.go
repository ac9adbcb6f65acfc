package wasmhost_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/internal/policycases"
	"github.com/keycard-gw/keycard/internal/wasmhost"
)

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
			req := &filter.Request{Method: "GET", Authority: "api.example", Path: path, Headers: policycases.HeaderList(nil)}
			if d := e.Decide(req); !d.Allow {
				b.Fatalf("%s: %v", path, d)
			}
			for b.Loop() {
				e.Decide(req)
			}
		})
		b.Run(fmt.Sprintf("load-in-wazero/routes=%d", n), func(b *testing.B) {
			cfg := *compiled(b).Config
			cfg.Gateway = config.GatewayEnvoy
			conf, err := json.Marshal(&cfg)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			h, err := wasmhost.Compile(ctx, module(b), wasmhost.Options{Cache: compileCache})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close(ctx)
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
