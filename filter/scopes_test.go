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
		return hs256(secret, c)
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
		return hs256(secret, c)
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
		s := hs256(secret, c)
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

const permissionScopesPolicy = `version: 1
name: permscoped
identity:
  issuers:
    - {name: idp, issuer: "https://idp", audiences: [api], algorithms: [HS256], secret: {env: SECRET}}
levels: {public: 0, user: 1, admin: 2}
roles:
  billing:
    - "GET /invoices/**"
    - {permission: "DELETE /invoices/{id}", scopes: ["invoices:write"]}
    - {permission: "POST /invoices/{id}/refund", any_scopes: ["refunds", "invoices:admin"]}
  clerk:
    - "DELETE /invoices/{id}"
services:
  - name: api
    hosts: [api.example]
    default: deny
    routes:
      - {path: /invoices/**, access: admin}
`

// TestPermissionScopes: a role permission that needs scopes grants only
// to a token that has them (all of scopes, one of any_scopes); another
// role's permission for the same request still grants; a refused one is
// 403 insufficient_scope naming the scopes, and the log names the
// permission.
func TestPermissionScopes(t *testing.T) {
	secret := "permission-scopes-secret-32-bytes!"
	_, e := inlineEngine(t, permissionScopesPolicy, secret)
	tok := func(roles []string, scope string) string {
		c := jwt.MapClaims{"iss": "https://idp", "aud": "api", "sub": "u", "level": 1, "roles": roles, "exp": time.Now().Add(time.Hour).Unix()}
		if scope != "" {
			c["scope"] = scope
		}
		return hs256(secret, c)
	}
	billing := []string{"billing"}
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
		reason, www, detail       string
	}{
		{"a permission without scopes", "GET", "/invoices/7", tok(billing, ""), 200, "granted", "", ""},
		{"its scopes held", "DELETE", "/invoices/7", tok(billing, "invoices:write"), 200, "granted", "", ""},
		{"its scopes missing", "DELETE", "/invoices/7", tok(billing, "invoices:read"), 403, "insufficient_scope", `Bearer error="insufficient_scope", scope="invoices:write"`,
			"role billing's permission DELETE /invoices/{id} needs scopes invoices:write"},
		{"one of any_scopes", "POST", "/invoices/7/refund", tok(billing, "invoices:admin"), 200, "granted", "", ""},
		{"none of any_scopes", "POST", "/invoices/7/refund", tok(billing, ""), 403, "insufficient_scope", `Bearer error="insufficient_scope", scope="refunds invoices:admin"`,
			"role billing's permission POST /invoices/{id}/refund needs scopes one of refunds invoices:admin"},
		{"another role's permission without scopes", "DELETE", "/invoices/7", tok([]string{"billing", "clerk"}, ""), 200, "granted", "", ""},
		{"no permission at all", "PUT", "/invoices/7", tok(billing, "invoices:write"), 403, "insufficient_level", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, status := send(e, tc.method, "api.example", tc.path, tc.token)
			www := ""
			for _, kv := range d.ResponseHeaders() {
				if kv[0] == "www-authenticate" && !d.Allow {
					www = kv[1]
				}
			}
			if status != tc.status || d.Reason != tc.reason || www != tc.www || d.Detail != tc.detail {
				t.Errorf("got %d %s %q %q, want %d %s %q %q", status, d.Reason, www, d.Detail, tc.status, tc.reason, tc.www, tc.detail)
			}
		})
	}
}
