// Package envoytest runs the filter in Envoy's own proxy-wasm host core:
// proxy-wasm-cpp-host at the commit Envoy pins, on V8 and on WAMR, with a
// driver that plays Envoy's HTTP side (../shared/envoyhost, or
// $KEYCARD_ENVOY_HOST). Its tests are the shared decision tables of
// internal/policytest, sent through that host with the configuration
// `keycard render envoy` writes; they skip with one line where the host
// is absent.
package envoytest
