// Package filter owns the filter's decision: given the method, authority,
// path and headers a gateway hands over, it normalises them, finds the
// service and route in the decision table, reads and verifies the token,
// and decides to allow (with the identity headers to set) or to answer
// 400, 401, 403 or 404 with the seeds' JSON envelope.
//
// It is plain Go with no wasm in it: inside the module, filter/session
// calls it (filter/wasm glues the session to the ABI, filter/abi); the
// CLI and the tests call it natively, so both run the same code. What
// each gateway's host presents and allows is filter.Gateway.
package filter
