package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tetratelabs/wazero"
)

// moduleExports are the exports a host calls on every request (Kong calls
// every per-stream callback without checking it exists, and crashes the
// worker where one is missing) and the ABI version marker.
var moduleExports = []string{"proxy_abi_version_0_2_1", "_initialize", "proxy_on_memory_allocate", "proxy_on_context_create",
	"proxy_on_vm_start", "proxy_on_configure", "proxy_on_request_headers", "proxy_on_request_body", "proxy_on_response_headers",
	"proxy_on_response_body", "proxy_on_response_trailers", "proxy_on_http_call_response", "proxy_on_done", "proxy_on_log", "proxy_on_delete"}

// keycardMark is in every Keycard filter module: the Go package path of
// its entry point, which the module's name section carries.
const keycardMark = "github.com/keycard-gw/keycard/filter/wasm"

// checkModule refuses what --wasm hands over unless it is a WebAssembly
// module that exports the proxy-wasm ABI 0.2.1 callbacks the hosts call
// and is a Keycard filter: render must not deploy a text file, or
// another filter, as keycard.wasm.
func checkModule(name string, data []byte) error {
	if !bytes.HasPrefix(data, []byte("\x00asm\x01\x00\x00\x00")) {
		return fmt.Errorf("--wasm %s is not a WebAssembly module (no \\0asm version 1 header)", name)
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, data)
	if err != nil {
		return fmt.Errorf("--wasm %s is not a valid WebAssembly module: %v", name, err)
	}
	exports := cm.ExportedFunctions()
	var missing []string
	for _, e := range moduleExports {
		if _, ok := exports[e]; !ok {
			missing = append(missing, e)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("--wasm %s is not a proxy-wasm 0.2.1 filter the gateways can run: it lacks %v", name, missing)
	}
	if !bytes.Contains(data, []byte(keycardMark)) {
		return errors.New("--wasm " + name + " is a proxy-wasm filter but not Keycard's: the configuration render writes is for Keycard's filter")
	}
	return nil
}
