package wasmhost_test

import (
	"slices"
	"testing"

	"github.com/keycard-gw/keycard/internal/testing/wasmtest"
	"github.com/keycard-gw/keycard/internal/wasmhost"
)

// abiCallbacks are the callbacks of proxy-wasm ABI 0.2.1 (proxy-wasm/spec,
// abi-versions/v0.2.1), the ABI version marker and the integration
// entry point a reactor has. Kong's host calls several of them without
// checking that they exist, so the module exports every one.
var abiCallbacks = []string{
	"_initialize",
	"proxy_abi_version_0_2_1",
	"proxy_on_memory_allocate",
	"proxy_on_context_create",
	"proxy_on_vm_start",
	"proxy_on_configure",
	"proxy_on_tick",
	"proxy_on_done",
	"proxy_on_log",
	"proxy_on_delete",
	"proxy_on_new_connection",
	"proxy_on_downstream_data",
	"proxy_on_upstream_data",
	"proxy_on_downstream_connection_close",
	"proxy_on_upstream_connection_close",
	"proxy_on_request_headers",
	"proxy_on_request_body",
	"proxy_on_request_trailers",
	"proxy_on_response_headers",
	"proxy_on_response_body",
	"proxy_on_response_trailers",
	"proxy_on_http_call_response",
	"proxy_on_grpc_receive_initial_metadata",
	"proxy_on_grpc_receive",
	"proxy_on_grpc_receive_trailing_metadata",
	"proxy_on_grpc_close",
	"proxy_on_queue_ready",
	"proxy_on_foreign_function",
}

// TestExportsEveryCallback compares the module's function exports with
// the ABI's callback list, both ways: nothing missing, nothing extra.
func TestExportsEveryCallback(t *testing.T) {
	h := wasmtest.Host(t, module(t), wasmhost.Options{Cache: compileCache})
	var got []string
	for name := range h.Compiled().ExportedFunctions() {
		got = append(got, name)
	}
	slices.Sort(got)
	want := slices.Clone(abiCallbacks)
	slices.Sort(want)
	for _, n := range want {
		if !slices.Contains(got, n) {
			t.Errorf("the module does not export %s", n)
		}
	}
	for _, n := range got {
		if !slices.Contains(want, n) {
			t.Errorf("the module exports %s, which is not an ABI 0.2.1 callback", n)
		}
	}
}
