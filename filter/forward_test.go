package filter_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
)

const forwardPolicy = `version: 1
name: fwd
identity:
  issuers: [{name: idp, issuer: "https://idp", audiences: [api], algorithms: [HS256], secret: {env: SECRET}}]
  claims: {subject: sub, roles: realm_access.roles}
  forward:
    X-Auth-Sub: subject
    X-Auth-Tenant: {claim: tenant_id}
    X-Auth-Groups: {claim: "ext.groups"}
    X-Auth-Email-Verified: {claim: "\"https://idp/email_verified\""}
levels: {public: 0, user: 1}
cors: {origins: ["https://app.example"]}
services:
  - {name: api, hosts: [api.example], routes: [{path: /me, access: public, token: required}]}
`

// TestForwardClaims: any claim, at any path, goes to a header of its
// own: strings as they are, numbers and booleans as written, lists of
// strings joined with commas; objects, nulls and values with control
// characters are not forwarded; a client's copy of the header is
// stripped on Envoy and refused on Kong, as the identity headers are.
func TestForwardClaims(t *testing.T) {
	secret := "forward-test-secret-of-32-bytes!!"
	res, err := compiler.Compile([]string{"p.yaml"}, map[string][]byte{"p.yaml": []byte(forwardPolicy)}, compiler.Settings{Env: func(string) (string, bool) { return secret, true }})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(c jwt.MapClaims) string {
		c["iss"], c["aud"], c["sub"], c["exp"] = "https://idp", "api", "u1", time.Now().Add(time.Hour).Unix()
		return hs256(secret, c)
	}
	for _, tc := range []struct {
		name   string
		claims jwt.MapClaims
		want   map[string]string // "-": not set
	}{
		{"string, list and boolean", jwt.MapClaims{"tenant_id": "t-42", "ext": map[string]any{"groups": []string{"a", "b,c", "d"}}, "https://idp/email_verified": true},
			map[string]string{"x-auth-tenant": "t-42", "x-auth-groups": "a,d", "x-auth-email-verified": "true", "x-auth-sub": "u1"}},
		{"a number as written", jwt.MapClaims{"tenant_id": 42}, map[string]string{"x-auth-tenant": "42", "x-auth-groups": "-", "x-auth-email-verified": "-"}},
		{"an object and a null are not forwarded", jwt.MapClaims{"tenant_id": map[string]any{"id": 1}, "ext": map[string]any{"groups": nil}}, map[string]string{"x-auth-tenant": "-", "x-auth-groups": "-"}},
		{"a control character is not forwarded", jwt.MapClaims{"tenant_id": "t\r\nx-admin: 1"}, map[string]string{"x-auth-tenant": "-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, gateway := range []string{config.GatewayEnvoy, config.GatewayKong} {
				e := gatewayEngine(t, res, gateway, time.Now)
				h := filter.HeaderList{{"authorization", "Bearer " + sign(tc.claims)}}
				if gateway == config.GatewayKong {
					h = append(h, [2]string{"host", "api.example"})
				}
				d := e.Decide(&filter.Request{Method: "GET", Authority: "api.example", Path: "/me", Headers: h})
				if !d.Allow {
					t.Fatalf("%s: %d %s %s", gateway, d.Status, d.Reason, d.Detail)
				}
				set := map[string]string{}
				for _, kv := range d.Set {
					set[kv[0]] = kv[1]
				}
				for name, want := range tc.want {
					if got, ok := set[name]; want == "-" && ok || want != "-" && got != want {
						t.Errorf("%s: %s = %q (set %v), want %q", gateway, name, got, ok, want)
					}
				}
			}
		})
	}
	// A client's own copy.
	for gateway, want := range map[string]int{config.GatewayEnvoy: 200, config.GatewayKong: 400} {
		e := gatewayEngine(t, res, gateway, time.Now)
		h := filter.HeaderList{{"authorization", "Bearer " + sign(jwt.MapClaims{"tenant_id": "t-1"})}, {"x-auth-tenant", "t-evil"}, {"host", "api.example"}}
		d := e.Decide(&filter.Request{Method: "GET", Authority: "api.example", Path: "/me", Headers: h})
		got := 200
		if !d.Allow {
			got = d.Status
		}
		removed := false
		for _, r := range d.Remove {
			removed = removed || r == "x-auth-tenant"
		}
		if got != want || gateway == config.GatewayEnvoy && !removed {
			t.Errorf("%s, a client's X-Auth-Tenant: %d (removed %v), want %d", gateway, got, removed, want)
		}
	}
}

// TestKongRefusesWhatItWouldRemove: on Kong, whose host cannot take a
// request header away, a request carrying any header an allowed verdict
// lists in Remove (in any case, with "_" for "-") is refused before it
// is decided, so the module need not walk the headers to remove them.
func TestKongRefusesWhatItWouldRemove(t *testing.T) {
	res, err := compiler.Compile([]string{"p.yaml"}, map[string][]byte{"p.yaml": []byte(forwardPolicy)}, compiler.Settings{Env: func(string) (string, bool) { return "forward-test-secret-of-32-bytes!!", true }})
	if err != nil {
		t.Fatal(err)
	}
	e := gatewayEngine(t, res, config.GatewayKong, time.Now)
	req := func(h filter.HeaderList) filter.Request {
		return filter.Request{Method: "GET", Path: "/me", Headers: append(filter.HeaderList{{"host", "api.example"}}, h...)}
	}
	r := req(nil)
	d := e.Decide(&r)
	if d.Status != 401 || len(d.Remove) == 0 { // the route needs a token; the verdict still lists what goes
		t.Fatalf("plain request: status %d, remove %q", d.Status, d.Remove)
	}
	for _, name := range d.Remove {
		for _, sent := range []string{name, strings.ToUpper(name), strings.ReplaceAll(name, "-", "_")} {
			r := req(filter.HeaderList{{sent, "1"}})
			if d := e.Decide(&r); d.Allow || d.Status != 400 {
				t.Errorf("%s sent: allow %v status %d, want 400", sent, d.Allow, d.Status)
			}
		}
	}
}
