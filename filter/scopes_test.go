package filter_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/compiler"
)

const scopesPolicy = `version: 1
name: scoped
identity:
  issuers:
    - {name: idp, issuer: "https://idp", audiences: [api], algorithms: [HS256], secret: {env: SECRET}}
    - {name: entra, issuer: "https://entra", audiences: [api], algorithms: [HS256], secret: {env: SECRET}, claims: {scopes: scp}}
levels: {public: 0, user: 1}
roles:
  auditor: ["GET /reports/**"]
cors: {origins: ["https://app.example"]}
services:
  - name: api
    hosts: [api.example]
    routes:
      - {path: /orders, access: public, scopes: ["orders:read"]}
      - {path: /orders/write, access: user, scopes: ["orders:read", "orders:write"]}
      - {path: /export, access: public, any_scopes: ["export", "https://api.example/admin"]}
      - {path: /reports/**, roles: [auditor], scopes: ["reports:read"]}
      - {path: /free, access: public}
`

// TestScopes: a route's scopes are all needed (any_scopes: one of them),
// read from scope or scp as a space-separated string or a list; a route
// with scopes needs a token even at level 0; a role permission does not
// excuse the route's scopes; a refusal is 403 insufficient_scope with
// RFC 6750's WWW-Authenticate naming the scopes needed.
func TestScopes(t *testing.T) {
	secret := "scopes-test-secret-of-32-bytes!!!"
	_, e := inlineEngine(t, scopesPolicy, secret)
	tok := func(iss string, c jwt.MapClaims) string {
		c["iss"], c["aud"], c["sub"], c["level"], c["exp"] = iss, "api", "u", 1, time.Now().Add(time.Hour).Unix()
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
		return s
	}
	for _, tc := range []struct {
		name, path, token string
		status            int
		reason, www       string
	}{
		{"a string of scopes", "/orders", tok("https://idp", jwt.MapClaims{"scope": "profile orders:read"}), 200, "ok", ""},
		{"a list in scp", "/orders", tok("https://idp", jwt.MapClaims{"scp": []string{"orders:read"}}), 200, "ok", ""},
		{"scope and scp together", "/orders/write", tok("https://idp", jwt.MapClaims{"scope": "orders:read", "scp": "orders:write"}), 200, "ok", ""},
		{"no token on a level-0 route with scopes", "/orders", "", 401, "no_token", "Bearer"},
		{"a scope missing", "/orders/write", tok("https://idp", jwt.MapClaims{"scope": "orders:read"}), 403, "insufficient_scope", `Bearer error="insufficient_scope", scope="orders:read orders:write"`},
		{"no scopes at all", "/orders", tok("https://idp", jwt.MapClaims{}), 403, "insufficient_scope", `Bearer error="insufficient_scope", scope="orders:read"`},
		{"one of any_scopes", "/export", tok("https://idp", jwt.MapClaims{"scope": "https://api.example/admin"}), 200, "ok", ""},
		{"none of any_scopes", "/export", tok("https://idp", jwt.MapClaims{"scope": "orders:read"}), 403, "insufficient_scope", `Bearer error="insufficient_scope", scope="export https://api.example/admin"`},
		{"a role does not excuse the route's scopes", "/reports/2026", tok("https://idp", jwt.MapClaims{"roles": []string{"auditor"}}), 403, "insufficient_scope", `Bearer error="insufficient_scope", scope="reports:read"`},
		{"an issuer reading only scp ignores scope", "/orders", tok("https://entra", jwt.MapClaims{"scope": "orders:read"}), 403, "insufficient_scope", `Bearer error="insufficient_scope", scope="orders:read"`},
		{"a route without scopes", "/free", "", 200, "public", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, status := get(e, "api.example", tc.path, tc.token)
			www := ""
			if !d.Allow {
				for _, kv := range d.ResponseHeaders() {
					if kv[0] == "www-authenticate" {
						www = kv[1]
					}
				}
			}
			if status != tc.status || d.Reason != tc.reason || www != tc.www {
				t.Errorf("got %d %s %q, want %d %s %q (%s)", status, d.Reason, www, tc.status, tc.reason, tc.www, d.Detail)
			}
		})
	}
}

// TestLevelsFrom: a provider that knows nothing of levels drives level
// routes through a mapping of its roles, scopes or acr to levels; the
// token's level is the highest of its claim and what its values map to.
func TestLevelsFrom(t *testing.T) {
	secret := "levels-from-test-secret-32-bytes!"
	policy := `version: 1
name: lf
identity:
  issuers:
    - {name: kc, issuer: "https://kc", audiences: [api], algorithms: [HS256], secret: {env: SECRET}, claims: {roles: realm_access.roles}, levels_from: {roles: {staff: user, admin: admin}}}
    - {name: okta, issuer: "https://okta", audiences: [api], algorithms: [HS256], secret: {env: SECRET}, levels_from: {scopes: {"orders:write": 2}}}
    - {name: mfa, issuer: "https://mfa", audiences: [api], algorithms: [HS256], secret: {env: SECRET}, levels_from: {acr: {"urn:mfa": admin}}}
levels: {public: 0, user: 1, admin: 2}
cors: {origins: ["https://app.example"]}
services:
  - {name: api, hosts: [api.example], routes: [{path: /u, access: user}, {path: /a, access: admin}]}
`
	_, e := inlineEngine(t, policy, secret)
	tok := func(iss string, c jwt.MapClaims) string {
		c["iss"], c["aud"], c["sub"], c["exp"] = iss, "api", "u", time.Now().Add(time.Hour).Unix()
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
		return s
	}
	for _, tc := range []struct {
		name, path, token string
		status            int
	}{
		{"a staff role is level user", "/u", tok("https://kc", jwt.MapClaims{"realm_access": map[string]any{"roles": []string{"staff"}}}), 200},
		{"but not admin", "/a", tok("https://kc", jwt.MapClaims{"realm_access": map[string]any{"roles": []string{"staff"}}}), 403},
		{"the admin role is admin", "/a", tok("https://kc", jwt.MapClaims{"realm_access": map[string]any{"roles": []string{"staff", "admin"}}}), 200},
		{"no role, no level", "/u", tok("https://kc", jwt.MapClaims{}), 403},
		{"a level claim above the mapping stays", "/a", tok("https://kc", jwt.MapClaims{"level": 2}), 200},
		{"a scope maps to a level", "/a", tok("https://okta", jwt.MapClaims{"scope": "orders:read orders:write"}), 200},
		{"acr of a second factor", "/a", tok("https://mfa", jwt.MapClaims{"acr": "urn:mfa"}), 200},
		{"acr of a password", "/u", tok("https://mfa", jwt.MapClaims{"acr": "urn:pwd"}), 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, status := get(e, "api.example", tc.path, tc.token)
			if status != tc.status {
				t.Errorf("got %d %s, want %d", status, d.Reason, tc.status)
			}
		})
	}
}

// TestTenantTemplate: an issuer URL with {tenant} accepts the iss of the
// tenants it lists and no other tenant of the provider.
func TestTenantTemplate(t *testing.T) {
	secret := "tenant-template-secret-32-bytes!!"
	policy := `version: 1
name: tt
identity:
  issuers:
    - {name: entra, issuer: "https://login.microsoftonline.com/{tenant}/v2.0", tenants: [t-one, t-two], audiences: [api], algorithms: [HS256], secret: {env: SECRET}}
levels: {public: 0, user: 1}
cors: {origins: ["https://app.example"]}
services:
  - {name: api, hosts: [api.example], routes: [{path: /u, access: user, when: {tid: [t-one]}}]}
`
	_, e := inlineEngine(t, policy, secret)
	for _, tc := range []struct {
		tenant string
		status int
		reason string
	}{{"t-one", 200, "ok"}, {"t-two", 403, "condition_failed"}, {"t-three", 401, "invalid_token"}, {"{tenant}", 401, "invalid_token"}} {
		c := jwt.MapClaims{"iss": "https://login.microsoftonline.com/" + tc.tenant + "/v2.0", "tid": tc.tenant, "aud": "api", "sub": "u", "level": 1, "exp": time.Now().Add(time.Hour).Unix()}
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
		d, status := get(e, "api.example", "/u", s)
		if status != tc.status || d.Reason != tc.reason {
			t.Errorf("tenant %s: %d %s, want %d %s", tc.tenant, status, d.Reason, tc.status, tc.reason)
		}
	}
	_, err := compiler.Compile([]string{"p.yaml"}, map[string][]byte{"p.yaml": []byte(strings.Replace(policy, "tenants: [t-one, t-two], ", "", 1))}, compiler.Settings{Env: func(string) (string, bool) { return secret, true }})
	if err == nil || !strings.Contains(err.Error(), "an issuer URL with {tenant} needs tenants") {
		t.Errorf("a template without tenants: %v", err)
	}
}
