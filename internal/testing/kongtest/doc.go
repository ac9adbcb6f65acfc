// Package kongtest runs the Keycard filter in a real Kong data-plane
// host: nginx with Kong's ngx_wasm_module (the proxy-wasm host of Kong
// 3.4-3.10), configured from what `keycard render kong` writes. Its tests
// run the policy cases, the JWT attack table, the path table and the
// sidecar scenarios through that host, in front of an upstream that
// echoes what it received, and compare with the native decision; its
// benchmark measures what the filter costs there.
//
// The host is found at $KEYCARD_NGX_WASM or at ../shared/ngxwasm/nginx
// beside the checkout; without one the tests skip with one line.
package kongtest
