// Package wasmhost is Keycard's own proxy-wasm host on wazero. Tests use it
// to run the real filter module, and `keycard dev` uses it as a local
// gateway.
//
// It is strict on purpose: it offers the module only the proxy-wasm host
// calls the filter uses and the WASI functions that both Envoy (1.33+) and
// Kong (3.4-3.10, Wasmtime) provide, with Envoy's semantics where Envoy is
// the stricter (poll_oneoff and fd_fdstat_set_flags answer ENOSYS, file
// calls answer EBADF, args and environ are empty, fd_write goes to the
// log). A module that imports anything else is refused at compile time. An
// unknown context id, a pointer outside memory, a wrong map or buffer
// type, a local response sent twice, a request left paused with nothing
// pending: each is a fault that the call returns as an error, never
// silently ignored.
//
// Linear memory is reserved up front and grows in place, as in V8 and
// Wasmtime (memory.go), so a module that grows large pays no copies the
// real hosts do not make.
package wasmhost
