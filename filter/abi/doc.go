// Package abi is Keycard's proxy-wasm ABI layer (ABI 0.2.1) for modules
// built with upstream Go for GOOS=wasip1 as a WASI reactor. It is the only
// package that touches //go:wasmimport and //go:wasmexport.
//
// It exports every callback of ABI 0.2.1 (no-ops where the filter has
// nothing to do: Kong's host calls them without checking that they exist)
// and wraps exactly the host calls the filter makes, shaped like
// github.com/proxy-wasm/proxy-wasm-go-sdk (root and HTTP contexts,
// Action, typed host calls) so that moving to that SDK, once it can be
// used here, is mechanical.
//
// Memory the host hands back (headers, buffers, properties) is allocated
// by proxy_on_memory_allocate into Go slices that a package-level list
// keeps alive until the host call that asked for them has returned and
// the wrapper has taken its slice: Go's collector does not move objects,
// so the pointers stay valid, and the list is reset after every call so
// nothing leaks. The filter starts no goroutines and no timers, so the Go
// scheduler never idles and never needs poll_oneoff, which Envoy does not
// implement.
package abi
