//go:build wasip1

// Command noop is a proxy-wasm filter that does nothing: every callback
// a host calls returns at once. The Kong benchmark runs it beside the
// Keycard filter to show what the host and Go's export entry cost on
// their own, before any Keycard code runs.
package main

import "unsafe"

func main() {}

var held [][]byte

//go:wasmexport proxy_abi_version_0_2_1
func abiVersion() {}

//go:wasmexport proxy_on_memory_allocate
func memoryAllocate(size uint32) uint32 {
	b := make([]byte, max(size, 1))
	held = append(held[:0], b)
	return uint32(uintptr(unsafe.Pointer(&b[0])))
}

//go:wasmexport proxy_on_context_create
func contextCreate(id, root uint32) {}

//go:wasmexport proxy_on_vm_start
func vmStart(root, size uint32) uint32 { return 1 }

//go:wasmexport proxy_on_configure
func configure(root, size uint32) uint32 { return 1 }

//go:wasmexport proxy_on_tick
func tick(root uint32) {}

//go:wasmexport proxy_on_request_headers
func requestHeaders(id, n, eos uint32) uint32 { return 0 }

//go:wasmexport proxy_on_request_body
func requestBody(id, n, eos uint32) uint32 { return 0 }

//go:wasmexport proxy_on_request_trailers
func requestTrailers(id, n uint32) uint32 { return 0 }

//go:wasmexport proxy_on_response_headers
func responseHeaders(id, n, eos uint32) uint32 { return 0 }

//go:wasmexport proxy_on_response_body
func responseBody(id, n, eos uint32) uint32 { return 0 }

//go:wasmexport proxy_on_response_trailers
func responseTrailers(id, n uint32) uint32 { return 0 }

//go:wasmexport proxy_on_http_call_response
func callResponse(root, token, h, b, t uint32) {}

//go:wasmexport proxy_on_done
func done(id uint32) uint32 { return 1 }

//go:wasmexport proxy_on_log
func log(id uint32) {}

//go:wasmexport proxy_on_delete
func deleteContext(id uint32) {}
