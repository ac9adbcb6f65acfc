package envoytest

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
	"github.com/keycard-gw/keycard/internal/testing/wasmtest"
)

// traced is one line of proxy-wasm-cpp-host's own trace of a call
// across the boundary: the module calling the host (a host call or a
// WASI function) or the host calling the module (a callback, or
// proxy_on_memory_allocate while a host call hands an answer over).
var traced = regexp.MustCompile(`^\[trace\] \[(vm->host|host->vm)\] ([A-Za-z0-9_.]+)\(`)

// TestHostCalls counts, in Envoy's host core, the calls across the
// boundary that a warm request costs: a public one and one whose token
// is cached (the requests of BenchmarkRequest). The counts are the
// host's, from cpp-host's trace (--log-level trace), and exact: a change
// that adds a call fails here and says which. With KEYCARD_BENCH_BEFORE
// naming another build of the module, that module's counts are logged
// beside them.
func TestHostCalls(t *testing.T) {
	engines, module := hostModule(t)
	eng := engines[len(engines)-1] // WAMR when there: the counts are every engine's, and it starts at once
	file, tok := wasmtest.BenchPolicy(t, root, config.GatewayEnvoy, sidecartest.GatewayKey)
	for _, tc := range []struct {
		name string
		req  Request
		want map[string]int
	}{
		{"public", Request{Method: "GET", Authority: "api.example", Path: "/"}, map[string]int{
			"host: env.proxy_get_header_map_pairs": 1,
			"host: env.proxy_increment_metric":     1,
			"module: proxy_on_memory_allocate":     1,
		}},
		{"cached token", Request{Method: "GET", Authority: "api.example", Path: "/v1/items/7", Headers: [][2]string{{"authorization", "Bearer " + tok}}}, map[string]int{
			"host: env.proxy_get_header_map_pairs":        1,
			"host: env.proxy_increment_metric":            1,
			"host: env.proxy_replace_header_map_value":    2, // the identity headers
			"host: wasi_snapshot_preview1.clock_time_get": 1, // the token's expiry
			"module: proxy_on_memory_allocate":            1,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := perRequest(t, eng, module, file, tc.req)
			callbacks := []string{"proxy_on_context_create", "proxy_on_request_headers", "proxy_on_response_headers", "proxy_on_log", "proxy_on_done", "proxy_on_delete"}
			want := maps.Clone(tc.want)
			for _, cb := range callbacks {
				want["module: "+cb] = 1 // Envoy's callbacks of every request
			}
			if !maps.Equal(got, want) {
				t.Errorf("calls per request:\n%s\nwant:\n%s", countTable(got), countTable(want))
			}
			t.Logf("calls per request (%s):\n%s", eng.Name, countTable(got))
			if before := os.Getenv("KEYCARD_BENCH_BEFORE"); before != "" {
				t.Logf("calls per request of %s:\n%s", before, countTable(perRequest(t, eng, before, file, tc.req)))
			}
		})
	}
}

// perRequest runs req seven times through a fresh host and returns the
// calls made from the creation of a request's context to its deletion,
// the median over the last five (warm) requests: the Go runtime reads
// the clock at times of its own (a collection), which one request may
// see and the next not.
func perRequest(t *testing.T, eng Engine, module, file string, req Request) map[string]int {
	h, err := Start(eng, module, file, nil, "--log-level", "trace", "-v")
	if err != nil {
		t.Fatal(err)
	}
	const n, warm = 7, 5
	for range n {
		if _, err := h.Do(req); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	var windows []map[string]int // one per request, in order
	var cur map[string]int
	stream := ""
	for line := range strings.SplitSeq(h.logs.String(), "\n") {
		m := traced.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		args := line[len(m[0]):]
		id, _, _ := strings.Cut(strings.TrimSuffix(args, ")"), ",")
		switch {
		case m[2] == "proxy_on_context_create" && !strings.HasSuffix(args, ", 0)"):
			cur, stream = map[string]int{}, id
		case cur == nil:
			continue
		}
		who := "host: "
		if m[1] == "host->vm" {
			who = "module: "
		}
		cur[who+m[2]]++
		if m[2] == "proxy_on_delete" && id == stream {
			windows, cur = append(windows, cur), nil
		}
	}
	if len(windows) != n {
		t.Fatalf("%d requests traced, want %d", len(windows), n)
	}
	names := map[string]bool{}
	for _, w := range windows[n-warm:] {
		for name := range w {
			names[name] = true
		}
	}
	out := map[string]int{}
	for name := range names {
		counts := make([]int, 0, warm)
		for _, w := range windows[n-warm:] {
			counts = append(counts, w[name])
		}
		slices.Sort(counts)
		if c := counts[warm/2]; c != 0 {
			out[name] = c
		}
	}
	return out
}

func countTable(c map[string]int) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(c)) {
		fmt.Fprintf(&b, "  %3d  %s\n", c[name], name)
	}
	return b.String()
}
