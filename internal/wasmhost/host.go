package wasmhost

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// flavor says whose rules the host follows where Envoy and Kong differ.
// It comes from Options.Gateway; the traits the filter also reads
// (filter.Gateway) are taken from the same entry, the rest of the
// model's differences are in flavor.go and wasi.go.
type flavor int

const (
	envoy flavor = iota
	kong
)

// Options configure a Host.
type Options struct {
	// Gateway is the gateway whose host this one models
	// (config.GatewayEnvoy, the default, or config.GatewayKong): the same
	// value as the filter configuration's, which must not name another.
	Gateway string
	// Now is the clock the module sees (clock_time_get realtime); nil
	// means time.Now.
	Now func() time.Time
	// Caller answers the module's proxy_http_call. nil: every call-out
	// fails as if the upstream were unreachable.
	Caller Caller
	// Cache, when set, keeps compiled code across Hosts (tests compile
	// the same module many times).
	Cache wazero.CompilationCache
	// ServerName and Port make Kong's ":authority" (nginx's server_name
	// and the listening port); the defaults are Kong's proxy server,
	// "kong" and 8000.
	ServerName string
	Port       int
	// Probe says the module probes the host's answers on purpose (a
	// pointer outside memory, say): calls are answered as the host
	// answers them, and not failed as the model fails a filter's
	// mistakes.
	Probe bool
}

// Caller answers a call-out. A non-nil error means the call failed (no
// response): the module then sees the host's failure form.
type Caller func(ctx context.Context, c *Callout) (*CalloutResponse, error)

// Callout is a call-out the module made.
type Callout struct {
	Upstream string
	Headers  [][2]string
	Body     []byte
	Timeout  time.Duration
}

// CalloutResponse is what the upstream answered.
type CalloutResponse struct {
	Headers [][2]string // including :status
	Body    []byte
}

// Host holds a compiled module; it makes VMs.
type Host struct {
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	opts     Options
	started  time.Time
	flavor   flavor
	gw       *filter.Gateway // the traits the filter reads too
}

// Compile checks the module's imports against what the target hosts
// provide and compiles it.
func Compile(ctx context.Context, wasm []byte, opts Options) (*Host, error) {
	h, err := model(opts)
	if err != nil {
		return nil, err
	}
	cfg := wazero.NewRuntimeConfig()
	if opts.Cache != nil {
		cfg = cfg.WithCompilationCache(opts.Cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	h.rt = rt
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("wasmhost: compile: %w", err)
	}
	if err := CheckImports(compiled); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	if err := instantiateHostModule(ctx, rt, wasiModule, wasiFuncs(h.flavor)); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	if err := instantiateHostModule(ctx, rt, "env", guarded(proxyFuncs())); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	h.compiled = compiled
	return h, nil
}

// model is a Host without a runtime: the gateway's traits and options.
func model(opts Options) (*Host, error) {
	if opts.Gateway == "" {
		opts.Gateway = config.GatewayEnvoy
	}
	gw, ok := filter.GatewayOf(opts.Gateway)
	if !ok {
		return nil, fmt.Errorf("wasmhost: gateway %q is not kong or envoy", opts.Gateway)
	}
	fl := envoy
	if gw.Name == config.GatewayKong {
		fl = kong
	}
	h := &Host{opts: opts, flavor: fl, gw: gw}
	h.started = h.now()
	return h, nil
}

// Close releases the runtime and every VM.
func (h *Host) Close(ctx context.Context) error { return h.rt.Close(ctx) }

func (h *Host) now() time.Time {
	if h.opts.Now != nil {
		return h.opts.Now()
	}
	return time.Now()
}

// WASIFunctions lists the WASI functions this host offers.
func WASIFunctions() []string {
	var out []string
	for _, f := range wasiFuncs(envoy) {
		out = append(out, f.name)
	}
	slices.Sort(out)
	return out
}

// ProxyFunctions lists the proxy-wasm host calls this host offers.
func ProxyFunctions() []string {
	var out []string
	for _, f := range proxyFuncs() {
		out = append(out, f.name)
	}
	slices.Sort(out)
	return out
}

// CheckImports refuses a module that imports anything this host (and so
// Envoy and Kong) does not provide.
func CheckImports(m wazero.CompiledModule) error {
	wasi := WASIFunctions()
	proxy := ProxyFunctions()
	var bad []string
	for _, f := range m.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch {
		case mod == wasiModule && slices.Contains(wasi, name):
		case mod == "env" && slices.Contains(proxy, name):
		default:
			bad = append(bad, mod+"."+name)
		}
	}
	if len(m.ImportedMemories()) > 0 {
		bad = append(bad, "an imported memory")
	}
	if len(bad) > 0 {
		return fmt.Errorf("wasmhost: the module imports what Envoy or Kong do not provide: %s", strings.Join(bad, ", "))
	}
	return nil
}

// Imports lists the module's imports as module.name, sorted.
func Imports(m wazero.CompiledModule) []string {
	var out []string
	for _, f := range m.ImportedFunctions() {
		mod, name, _ := f.Import()
		out = append(out, mod+"."+name)
	}
	slices.Sort(out)
	return out
}

// Compiled is the compiled module.
func (h *Host) Compiled() wazero.CompiledModule { return h.compiled }

// guarded refuses proxy-wasm host calls while the module initialises
// (_initialize) or allocates for the host (proxy_on_memory_allocate):
// Envoy allows next to nothing then, so the filter's init functions must
// be pure computation.
func guarded(funcs []hostFunc) []hostFunc {
	for i := range funcs {
		name, fn := funcs[i].name, funcs[i].fn
		funcs[i].fn = func(ctx context.Context, mod api.Module, stack []uint64) {
			vm := vmOf(ctx)
			if vm.phase != "" {
				vm.faultf("%s called during %s: Envoy does not allow host calls there", name, vm.phase)
				stack[0] = statusBadArgument
				return
			}
			fn(ctx, mod, stack)
		}
	}
	return funcs
}
