package wasmhost_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/wasmhost"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// guestProfile counts, per guest function, calls and time spent in it
// (inclusive and self), through wazero's function listeners. The
// listener's own cost (two clock reads per call) inflates functions that
// are called often, so read self times as upper bounds and call counts
// as exact.
type guestProfile struct {
	calls map[string]int
	self  map[string]time.Duration
	incl  map[string]time.Duration
	// allocs counts, per function outside the Go runtime, the
	// allocations (runtime.mallocgc calls) made on its behalf.
	allocs map[string]int
	// edges counts calls by caller and callee ("caller -> callee"): who
	// makes the calls a function's count adds up to.
	edges map[string]int
	stack []frame
}

type frame struct {
	name  string
	start time.Time
	child time.Duration
}

func (p *guestProfile) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	return p
}

func (p *guestProfile) Before(_ context.Context, _ api.Module, def api.FunctionDefinition, _ []uint64, _ experimental.StackIterator) {
	name := def.DebugName()
	if name == ".runtime.mallocgc" {
		for i := len(p.stack) - 1; i >= 0; i-- {
			if !strings.HasPrefix(p.stack[i].name, ".runtime.") {
				p.allocs[p.stack[i].name]++
				break
			}
		}
	}
	if len(p.stack) > 0 {
		p.edges[p.stack[len(p.stack)-1].name+" -> "+name]++
	}
	p.stack = append(p.stack, frame{name: name, start: time.Now()})
}

func (p *guestProfile) After(context.Context, api.Module, api.FunctionDefinition, []uint64) {
	p.pop()
}

func (p *guestProfile) Abort(context.Context, api.Module, api.FunctionDefinition, error) { p.pop() }

func (p *guestProfile) pop() {
	f := p.stack[len(p.stack)-1]
	p.stack = p.stack[:len(p.stack)-1]
	d := time.Since(f.start)
	p.calls[f.name]++
	p.self[f.name] += d - f.child
	p.incl[f.name] += d
	if len(p.stack) > 0 {
		p.stack[len(p.stack)-1].child += d
	}
}

// TestGuestProfile prints where the module's time goes per request kind
// (KEYCARD_GUEST_PROFILE=1 go test -run GuestProfile -v ./internal/wasmhost;
// KEYCARD_GUEST_PROFILE=cached-token profiles that kind alone;
// KEYCARD_GUEST_GATEWAY=kong runs Kong's flavour).
func TestGuestProfile(t *testing.T) {
	if os.Getenv("KEYCARD_GUEST_PROFILE") == "" {
		t.Skip("set KEYCARD_GUEST_PROFILE=1 to profile the guest")
	}
	const n = 2000
	only := os.Getenv("KEYCARD_GUEST_PROFILE") // "1": every kind; else one kind's name
	gateway := os.Getenv("KEYCARD_GUEST_GATEWAY")
	if gateway == "" {
		gateway = config.GatewayEnvoy
	}
	for _, bc := range benchCases(t, func(c int) *compiler.Result { return benchPolicy(t, c) }) {
		if only != "1" && only != bc.name {
			continue
		}
		res := benchPolicy(t, bc.cacheSize)
		path := "/v1/items/7"
		if bc.name == "public" {
			path = "/"
		}
		p := &guestProfile{calls: map[string]int{}, self: map[string]time.Duration{}, incl: map[string]time.Duration{}, allocs: map[string]int{}, edges: map[string]int{}}
		ctx := experimental.WithFunctionListenerFactory(context.Background(), p)
		h, err := wasmhost.Compile(ctx, module(t), wasmhost.Options{Now: func() time.Time { return fixedNow }, Gateway: gateway})
		if err != nil {
			t.Fatal(err)
		}
		vm, err := h.NewVM(ctx, gatewayJSON(t, res, gateway))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 50 { // warm: caches filled, first allocations made
			vm.Do(ctx, wasmhost.Request{Method: "GET", Authority: "api.example", Path: path, Headers: bc.pool[i%len(bc.pool)]})
		}
		clear(p.calls)
		clear(p.self)
		clear(p.incl)
		clear(p.allocs)
		clear(p.edges)
		for i := range n {
			if _, err := vm.Do(ctx, wasmhost.Request{Method: "GET", Authority: "api.example", Path: path, Headers: bc.pool[i%len(bc.pool)]}); err != nil {
				t.Fatal(err)
			}
		}
		h.Close(ctx)
		names := make([]string, 0, len(p.self))
		total := 0
		for name, c := range p.calls {
			names = append(names, name)
			total += c
		}
		sort.Slice(names, func(i, j int) bool { return p.self[names[i]] > p.self[names[j]] })
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %d guest calls per request; top functions by self time (per request):\n", bc.name, total/n)
		for _, name := range names[:min(guestTop(), len(names))] {
			fmt.Fprintf(&b, "  %8.0f ns self %8.0f ns incl %6.1f calls  %s\n", float64(p.self[name])/n, float64(p.incl[name])/n, float64(p.calls[name])/n, name)
		}
		sites := make([]string, 0, len(p.allocs))
		for name := range p.allocs {
			sites = append(sites, name)
		}
		sort.Slice(sites, func(i, j int) bool { return p.allocs[sites[i]] > p.allocs[sites[j]] })
		fmt.Fprintf(&b, "allocations per request, by the function that asked:\n")
		for _, name := range sites {
			fmt.Fprintf(&b, "  %6.2f  %s\n", float64(p.allocs[name])/n, name)
		}
		edges := make([]string, 0, len(p.edges))
		for e := range p.edges {
			edges = append(edges, e)
		}
		sort.Slice(edges, func(i, j int) bool { return p.edges[edges[i]] > p.edges[edges[j]] })
		fmt.Fprintf(&b, "calls per request, by caller:\n")
		for _, e := range edges[:min(guestTop(), len(edges))] {
			fmt.Fprintf(&b, "  %6.1f  %s\n", float64(p.edges[e])/n, e)
		}
		t.Log(b.String())
	}
}

// guestTop is how many functions the profile lists
// (KEYCARD_GUEST_TOP, default 25).
func guestTop() int {
	if n, err := strconv.Atoi(os.Getenv("KEYCARD_GUEST_TOP")); err == nil && n > 0 {
		return n
	}
	return 25
}
