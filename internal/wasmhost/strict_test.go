package wasmhost_test

import (
	"context"
	"strings"
	"testing"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/testing/wasmasm"
	"github.com/keycard-gw/keycard/internal/wasmhost"
)

// A tiny hand-assembled proxy-wasm module, so the tests can make a module
// misbehave in exactly one way and check that the host refuses it.

type wfunc struct {
	params, results int // all i32
	body            []byte
}

// imported host calls, in import order (function indices 0..).
var imports = []wasmasm.Import{
	{Name: "proxy_log", Params: 3, Results: 1},
	{Name: "proxy_send_local_response", Params: 8, Results: 1},
	{Name: "proxy_set_effective_context", Params: 1, Results: 1},
}

const (
	fnLog = iota
	fnSendLocal
	fnSetContext
)

func assemble(exports map[string]wfunc) []byte {
	fs := make(map[string]wasmasm.Func, len(exports))
	for n, f := range exports {
		fs[n] = wasmasm.Func{Params: f.params, Results: f.results, Body: f.body}
	}
	return wasmasm.Assemble(imports, fs)
}

var (
	i32  = wasmasm.I32
	call = wasmasm.Call
	drop = wasmasm.Drop
	cat  = wasmasm.Cat
)

// base is a module that does nothing wrong: it continues every request.
func base() map[string]wfunc {
	return map[string]wfunc{
		"_initialize":              {0, 0, nil},
		"proxy_abi_version_0_2_1":  {0, 0, nil},
		"proxy_on_memory_allocate": {1, 1, i32(1024)},
		"proxy_on_context_create":  {2, 0, nil},
		"proxy_on_vm_start":        {2, 1, i32(1)},
		"proxy_on_configure":       {2, 1, i32(1)},
		"proxy_on_request_headers": {3, 1, i32(0)},
	}
}

func run(t *testing.T, exports map[string]wfunc) error {
	t.Helper()
	return runIn(t, config.GatewayEnvoy, exports)
}

func runIn(t *testing.T, flavor string, exports map[string]wfunc) error {
	t.Helper()
	ctx := context.Background()
	h, err := wasmhost.Compile(ctx, assemble(exports), wasmhost.Options{Gateway: flavor})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	vm, err := h.NewVM(ctx, []byte("{}"))
	if err != nil {
		return err
	}
	_, err = vm.Do(ctx, wasmhost.Request{Method: "GET", Authority: "a.example", Path: "/"})
	return err
}

// TestStrictHost: each row makes the module misbehave once; the host
// must turn it into an error naming the fault, never ignore it.
func TestStrictHost(t *testing.T) {
	if err := run(t, base()); err != nil {
		t.Fatalf("a well-behaved module: %v", err)
	}
	sendLocal := cat(i32(403), i32(0), i32(0), i32(0), i32(0), i32(0), i32(0), i32(-1), call(fnSendLocal), drop())
	tests := []struct {
		name  string
		patch map[string]wfunc
		want  string
	}{
		{"host call during _initialize", map[string]wfunc{"_initialize": {0, 0, cat(i32(2), i32(0), i32(4), call(fnLog), drop())}},
			"proxy_log called during _initialize: Envoy does not allow host calls there"},
		{"pointer outside memory", map[string]wfunc{"proxy_on_request_headers": {3, 1, cat(i32(2), i32(70000), i32(10), call(fnLog), drop(), i32(0))}},
			"proxy_log: 10 bytes at 0x11170 are outside memory"},
		{"bad log level", map[string]wfunc{"proxy_on_request_headers": {3, 1, cat(i32(9), i32(0), i32(4), call(fnLog), drop(), i32(0))}},
			"proxy_log: level 9 is not 0..5"},
		{"pause with nothing pending", map[string]wfunc{"proxy_on_request_headers": {3, 1, i32(1)}},
			"the filter paused the request with no local response and no call-out pending: the request would hang"},
		{"local response twice", map[string]wfunc{"proxy_on_request_headers": {3, 1, cat(sendLocal, sendLocal, i32(1))}},
			"proxy_send_local_response: the request has already been answered or forwarded"},
		{"unknown context", map[string]wfunc{"proxy_on_request_headers": {3, 1, cat(i32(77), call(fnSetContext), drop(), i32(0))}},
			"proxy_set_effective_context: unknown context 77"},
		{"unknown action", map[string]wfunc{"proxy_on_request_headers": {3, 1, i32(7)}},
			"proxy_on_request_headers returned action 7"},
		{"configuration refused", map[string]wfunc{"proxy_on_configure": {2, 1, i32(0)}},
			"proxy_on_configure refused the configuration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			for k, v := range tc.patch {
				m[k] = v
			}
			err := run(t, m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

// TestKongCallsEveryCallback: Kong's host calls the stream callbacks
// without checking that the module exports them (a crashed worker in
// the real host); Envoy skips what is missing.
func TestKongCallsEveryCallback(t *testing.T) {
	if err := runIn(t, config.GatewayEnvoy, base()); err != nil {
		t.Fatalf("Envoy skips missing callbacks: %v", err)
	}
	full := func() map[string]wfunc {
		m := base()
		for _, n := range []string{"proxy_on_response_headers", "proxy_on_response_body"} {
			m[n] = wfunc{3, 1, i32(0)}
		}
		m["proxy_on_response_trailers"] = wfunc{2, 1, i32(0)}
		m["proxy_on_done"] = wfunc{1, 1, i32(1)}
		m["proxy_on_log"] = wfunc{1, 0, nil}
		m["proxy_on_delete"] = wfunc{1, 0, nil}
		return m
	}
	if err := runIn(t, config.GatewayKong, full()); err != nil {
		t.Fatalf("a module with every callback: %v", err)
	}
	for _, missing := range []string{"proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers", "proxy_on_done", "proxy_on_log", "proxy_on_delete"} {
		t.Run(missing, func(t *testing.T) {
			m := full()
			delete(m, missing)
			err := runIn(t, config.GatewayKong, m)
			want := "wasmhost: the module does not export " + missing + ", which Kong's host calls without checking: the nginx worker would crash (SIGSEGV)"
			if err == nil || err.Error() != want {
				t.Errorf("err = %v, want %s", err, want)
			}
		})
	}
	t.Run("response paused", func(t *testing.T) {
		m := full()
		m["proxy_on_response_headers"] = wfunc{3, 1, i32(1)}
		err := runIn(t, config.GatewayKong, m)
		if err == nil || !strings.Contains(err.Error(), "proxy_on_response_headers returned action 1") {
			t.Errorf("err = %v", err)
		}
	})
}
