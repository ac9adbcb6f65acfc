package config_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
)

func exampleJSON(t *testing.T) []byte {
	t.Helper()
	t.Setenv("KEYCARD_DEMO_SECRET", "keycard-demo-secret-not-for-production")
	res, err := compiler.CompileFiles([]string{filepath.Join("..", "policies")}, compiler.Settings{Gateway: config.GatewayEnvoy})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(res.Config)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDecode(t *testing.T) {
	good := string(exampleJSON(t))
	if _, _, err := config.Decode([]byte(good)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, to, want string
	}{
		{"not json", good, "{", "config: unexpected EOF"},
		{"trailing data", good, good + "{}", "config: data after the JSON object"},
		{"unknown field", `"version":1`, `"version":1,"verison":1`, `config: json: unknown field "verison"`},
		{"version", `"version":1`, `"version":2`, "config: version 2, this build reads 1"},
		{"no gateway", `"gateway":"envoy",`, ``, `config: gateway "" is not kong or envoy (keycard render sets it; keycard compile takes --gateway)`},
		{"other gateway", `"gateway":"envoy"`, `"gateway":"nginx"`, `config: gateway "nginx" is not kong or envoy (keycard render sets it; keycard compile takes --gateway)`},
		{"table", `"table":"`, `"table":"AAAA`, "config: table: table: bad magic"},
		{"no source", `"token":[{"header":"Authorization","scheme":"Bearer"},{"header":"X-Auth-Token"}]`, `"token":[]`, "config: identity.token: no token source"},
		{"bad header", `{"header":"X-Auth-Token"}`, `{"header":"X Auth"}`, `config: identity.token[1]: bad header name "X Auth"`},
		{"bad scheme", `"scheme":"Bearer"`, `"scheme":"Bearer "`, `config: identity.token[0]: bad scheme "Bearer "`},
		{"bad algorithm", `"algorithms":["HS256"]`, `"algorithms":["none"]`, `config: identity.issuers[0] (login): algorithm "none" is not supported`},
		{"algorithm without key", `"algorithms":["HS256"]`, `"algorithms":["HS256","RS256"]`, "config: identity.issuers[0] (login): algorithm RS256 has no key that fits it"},
		{"bad key", `"crv":"P-256"`, `"crv":"P-999"`, `config: identity.issuers[1] (partner): algorithm ES256 has no key that fits it`},
		{"bad state", `"state":"sidecar"`, `"state":"maybe"`, `config: sessions.state "maybe" is not none or sidecar`},
		{"bad forward", `"field":"subject"`, `"field":"password"`, `config: identity.forward[1]: unknown field "password"`},
		{"leeway", `"leeway_seconds":30`, `"leeway_seconds":-1`, "config: identity.leeway_seconds -1 not in 0..3600"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.from) {
				t.Fatalf("example config lacks %s", tc.from)
			}
			bad := strings.Replace(good, tc.from, tc.to, 1)
			_, _, err := config.Decode([]byte(bad))
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v, want %s", err, tc.want)
			}
		})
	}
}
