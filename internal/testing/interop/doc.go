// Package interop holds Keycard to independent implementations: tokens
// minted by panva's jose for every algorithm and key form, with jose's
// own verdict on each, and oidc-provider (OpenID Certified) as a real
// provider over https with discovery, client credentials and key
// rotation. Node.js runs them from packages installed from npm into the
// build folder (node/package-lock.json pins them); where node or npm is
// missing, the tests that need them skip with one line saying so.
//
// The package is test infrastructure: no product code imports it.
package interop
