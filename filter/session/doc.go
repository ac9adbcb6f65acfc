// Package session owns the filter's life in a host between the decision
// engine and the ABI: the plugin's configuration and metrics, each
// request from its headers to its verdict, the sidecar calls requests
// share or wait for, the key fetches and their waiters, the tick's key
// polls, the CORS headers of a response, and the denial log's rate
// limit. It reaches the host only through Host, which filter/wasm
// implements on the proxy-wasm ABI and tests implement natively, so the
// rules where one host differs from another run in ordinary tests.
package session
