package interop

import (
	"fmt"
	"strings"
	"testing"
)

// Resource indicators of the provider OIDCPolicy is written for.
const (
	OrdersResource  = "https://orders.keycard.test"  // aud orders-api, RS256, level 1
	BillingResource = "https://billing.keycard.test" // aud billing-api, ES256, level 1
	LargeResource   = "https://large.keycard.test"   // aud orders-api, RS256, level 1 and 200 group ids: a 10 KB token
)

// OIDCProvider is the configuration OIDCPolicy's provider starts with:
// the three resources, an RSA key and an EC key.
func OIDCProvider(t testing.TB) ProviderConfig {
	groups := make([]string, 200)
	for i := range groups {
		groups[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	return ProviderConfig{
		Resources: map[string]Resource{
			OrdersResource:  {Audience: "orders-api", Alg: "RS256", Claims: map[string]any{"level": 1}},
			BillingResource: {Audience: "billing-api", Alg: "ES256", Claims: map[string]any{"level": 1}},
			LargeResource:   {Audience: "orders-api", Alg: "RS256", Claims: map[string]any{"level": 1, "groups": groups}},
		},
		Keys: []Key{NewKey(t, "rsa-1", "RS256"), NewKey(t, "ec-1", "ES256")},
	}
}

// OIDCPolicy is a policy with two issuers on one OpenID provider at
// issuer (spelled as given), told apart by audience: orders (RS256 or
// ES256, aud orders-api) and billing (ES256, aud billing-api), both
// taking only RFC 9068 access tokens, keys fetched by the sidecar
// through discovery (refresh 1s, at most one fetch per 200ms). GET
// api.example/orders and /billing need level 1, /scoped also the scope
// api (which the provider grants) and /admin-scoped also admin (which it
// does not); the subject and the issuer that took the token are
// forwarded as X-Auth-Sub and X-Auth-Issuer.
func OIDCPolicy(issuer string) string {
	return fmt.Sprintf(`version: 1
name: interop
identity:
  issuers:
    - name: orders
      audiences: [orders-api]
      algorithms: [RS256, ES256]
      token_type: at+jwt
      require_exp: true
      oidc: {issuer: %[1]q, refresh: 1s, min_interval: 200ms, timeout: 2s}
    - name: billing
      audiences: [billing-api]
      algorithms: [ES256]
      token_type: at+jwt
      require_exp: true
      oidc: {issuer: %[1]q, refresh: 1s, min_interval: 200ms, timeout: 2s}
`, issuer) + apiService("X-Auth-Sub: subject, X-Auth-Issuer: issuer",
		"{path: /orders, access: user}",
		"{path: /billing, access: user}",
		"{path: /scoped, access: user, scopes: [api]}",
		"{path: /admin-scoped, access: user, scopes: [api, admin]}")
}

// apiService is the end both interop policies share after their
// issuers: the claims read, the headers forwarded (forward, a YAML
// mapping's inside), the levels, CORS for https://app.example, and
// service api at api.example with routes (YAML flow mappings).
func apiService(forward string, routes ...string) string {
	var b strings.Builder
	b.WriteString("  claims: {subject: sub, level: level}\n  forward: {" + forward + "}\n")
	b.WriteString("levels: {public: 0, user: 1}\ncors: {origins: [\"https://app.example\"]}\n")
	b.WriteString("services:\n  - name: api\n    hosts: [api.example]\n    routes:\n")
	for _, r := range routes {
		b.WriteString("      - " + r + "\n")
	}
	return b.String()
}
