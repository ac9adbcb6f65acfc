// Package v8test measures the filter's module on V8, the engine Kong's
// host runs it on (ngx_wasm_module links V8 10.2 and starts it with
// --no-liftoff --single-threaded) and Envoy's default. The real Kong host
// cannot name the module's functions in a profile (its V8 writes no
// perf map), so this package runs the same module under Node.js, whose
// V8 can: host.js plays the host's side of one request, as
// internal/wasmhost presents it, for each module in turn, hot (requests
// back to back) or cold (the caches flushed before each request, as a
// gateway's own work flushes them between two requests on a worker),
// and Node's profiler splits the time by function.
//
// Node.js comes from $KEYCARD_NODE, else node on PATH; Debian 12's
// nodejs 18 carries V8 10.2, Kong's. Without it the benchmarks skip.
package v8test
