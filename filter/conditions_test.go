package filter_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const conditionsPolicy = `version: 1
name: tenants
identity:
  issuers: [{name: idp, issuer: "https://idp", audiences: [api], algorithms: [HS256], secret: {env: SECRET}}]
levels: {public: 0, user: 1}
cors: {origins: ["https://app.example"]}
services:
  - name: api
    hosts: [api.example, shared.example/api]
    when: {"org.region": [eu, us]}
    routes:
      - {path: "/tenants/{tenant}/**", access: public, when: {tenant_id: "{tenant}"}}
      - {path: /admin/**, access: user, when: {groups: {contains: admins}}}
      - {path: /beta, access: user, when: {beta: true}}
      - {path: /open, access: public}
`

// TestConditions: a route's and its service's claim conditions: a value,
// one of a list, a list claim that contains a value, a path parameter;
// a route with conditions needs a token even at level 0; a missing
// claim, a claim of another type or a parameter that differs is 403
// condition_failed, and the log names the condition, never the value.
func TestConditions(t *testing.T) {
	secret := "conditions-test-secret-32-bytes!!"
	_, e := inlineEngine(t, conditionsPolicy, secret)
	tok := func(c jwt.MapClaims) string {
		c["iss"], c["aud"], c["sub"], c["level"], c["exp"] = "https://idp", "api", "u", 1, time.Now().Add(time.Hour).Unix()
		if _, ok := c["org"]; !ok {
			c["org"] = map[string]any{"region": "eu"}
		}
		return hs256(secret, c)
	}
	for _, tc := range []struct {
		name, host, path, token string
		status                  int
		reason, detail          string
	}{
		{"the tenant's own user", "api.example", "/tenants/42/orders", tok(jwt.MapClaims{"tenant_id": "42"}), 200, "ok", ""},
		{"a number claim against the parameter", "api.example", "/tenants/42/orders", tok(jwt.MapClaims{"tenant_id": 42}), 200, "ok", ""},
		{"under a prefix", "shared.example", "/api/tenants/42/x", tok(jwt.MapClaims{"tenant_id": "42"}), 200, "ok", ""},
		{"another tenant's user", "api.example", "/tenants/42/orders", tok(jwt.MapClaims{"tenant_id": "43"}), 403, "condition_failed", `condition tenant_id is {tenant} does not hold`},
		{"no tenant claim", "api.example", "/tenants/42/orders", tok(jwt.MapClaims{}), 403, "condition_failed", ""},
		{"a tenant list is not a tenant", "api.example", "/tenants/42/orders", tok(jwt.MapClaims{"tenant_id": []string{"42"}}), 403, "condition_failed", ""},
		{"an encoded unreserved character is the same segment, as the upstream reads it", "api.example", "/tenants/4%32/orders", tok(jwt.MapClaims{"tenant_id": "42"}), 200, "ok", ""},
		{"an encoded slash is refused before any condition", "api.example", "/tenants/4%2F2/orders", tok(jwt.MapClaims{"tenant_id": "4/2"}), 400, "bad_request", ""},
		{"no token on a public route with conditions", "api.example", "/tenants/42/orders", "", 401, "no_token", ""},
		{"a list claim that contains the value", "api.example", "/admin/x", tok(jwt.MapClaims{"groups": []string{"staff", "admins"}}), 200, "ok", ""},
		{"a list claim without it", "api.example", "/admin/x", tok(jwt.MapClaims{"groups": []string{"staff"}}), 403, "condition_failed", `condition groups contains "admins" does not hold`},
		{"a string claim that is the value", "api.example", "/admin/x", tok(jwt.MapClaims{"groups": "admins"}), 200, "ok", ""},
		{"a boolean as written", "api.example", "/beta", tok(jwt.MapClaims{"beta": true}), 200, "ok", ""},
		{"the string true is not the boolean", "api.example", "/beta", tok(jwt.MapClaims{"beta": false}), 403, "condition_failed", ""},
		{"the service's condition", "api.example", "/beta", tok(jwt.MapClaims{"beta": true, "org": map[string]any{"region": "apac"}}), 403, "condition_failed", `condition org.region is one of "eu", "us" does not hold`},
		{"a public route without conditions", "api.example", "/open", "", 200, "public", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, status := get(e, tc.host, tc.path, tc.token)
			if status != tc.status || d.Reason != tc.reason || tc.detail != "" && d.Detail != tc.detail {
				t.Errorf("got %d %s %q, want %d %s %q", status, d.Reason, d.Detail, tc.status, tc.reason, tc.detail)
			}
			if strings.Contains(e.LogLine(&d), "43") {
				t.Errorf("the log line holds the claim's value: %s", e.LogLine(&d))
			}
		})
	}
}
