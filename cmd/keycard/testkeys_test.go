package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/internal/idp"
	"github.com/keycard-gw/keycard/internal/testing/tables"
)

// TestTestRemoteKeys: keycard test with a token of an issuer whose keys
// the sidecar fetches says why it cannot decide it, and decides it with
// the keys from a JWKS file (--jwks) or from the provider (--fetch-keys).
func TestTestRemoteKeys(t *testing.T) {
	p, err := idp.Start("", "")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(tables.RemoteKeysPolicy(p.URL)), 0o644)
	tok, _ := p.Sign(jwt.MapClaims{"sub": "u-1", "level": 1, "exp": time.Now().Add(time.Hour).Unix()})
	cases := "cases:\n  - name: a token of the OpenID provider\n    request: {host: api.example, path: /me}\n    token: " + tok + "\n    expect: {status: 200, headers: {X-Auth-Sub: u-1}}\n"
	os.WriteFile(filepath.Join(dir, "p.cases.yaml"), []byte(cases), 0o644)
	cert := filepath.Join(dir, "idp.pem")
	os.WriteFile(cert, p.CertPEM(), 0o644)
	resp, err := p.Client().Get(p.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	set, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	jwksFile := filepath.Join(dir, "idp.jwks.json")
	os.WriteFile(jwksFile, set, 0o644)

	code, out, _ := runCLI(t, "test", dir)
	want := "FAIL " + filepath.Join(dir, "p.cases.yaml") + ":2: a token of the OpenID provider: the token is issuer idp's, whose keys the sidecar holds (" + p.URL + "/.well-known/openid-configuration) and none were given: pass --jwks idp=FILE, or --fetch-keys to fetch them as the sidecar does (a run-time secret: --secret-file NAME=PATH)\nFAIL: 1 of 1 cases\n"
	if code != 1 || out != want {
		t.Errorf("without keys: %d\n%s\nwant\n%s", code, out, want)
	}
	for _, args := range [][]string{
		{"--jwks", "idp=" + jwksFile},
		{"--fetch-keys", "--ca-file", cert},
	} {
		if code, out, errs := runCLI(t, append([]string{"test", dir}, args...)...); code != 0 || out != "PASS: 1 cases\n" {
			t.Errorf("%v: %d %q %q", args, code, out, errs)
		}
	}
	if code, _, errs := runCLI(t, "test", dir, "--fetch-keys"); code != 1 || !strings.Contains(errs, "issuer idp: fetching its keys: no keys yet:") || !strings.Contains(errs, "certificate") {
		t.Errorf("--fetch-keys without the provider's CA: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "test", dir, "--jwks", "nope="+jwksFile); code != 1 || !strings.HasSuffix(errs, "\nkeycard: --jwks nope: the policy has no issuer nope whose keys the sidecar holds\n") {
		t.Errorf("--jwks of an unknown issuer: %d %q", code, errs)
	}
}
