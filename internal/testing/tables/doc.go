// Package tables holds the request tables every target runs — natively,
// in the wazero model, in the real Kong host and in Envoy's host core:
// the JWT attacks, the path table (also rendered into docs/policy.md),
// cross-origin requests, token-state scenarios against a real sidecar,
// the remote-keys and shadow-mode policies. Test infrastructure only.
package tables
