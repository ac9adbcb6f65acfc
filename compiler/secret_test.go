package compiler

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretEncodings: a secret file's bytes are the secret, a final
// line break included (with a warning), unless the policy says how the
// secret is written: base64, or a JWK oct key.
func TestSecretEncodings(t *testing.T) {
	secret := []byte(strings.Repeat("k", 31) + "\n") // 32 bytes, the last a line break
	b64 := base64.StdEncoding.EncodeToString(secret)
	url := base64.RawURLEncoding.EncodeToString(secret)
	tests := []struct {
		name, file, source string
		want               []byte
		warn, err          string
	}{
		{"raw bytes, the line break kept", string(secret), "{file: s}", secret,
			"p.yaml:5:68: warning: issuer login: secret file s ends with a line break, which is part of the secret; if an editor added it, remove it (printf '%s' ... > file), or write the secret as encoding: base64", ""},
		{"raw said plainly", strings.Repeat("r", 32), "{file: s, encoding: raw}", []byte(strings.Repeat("r", 32)), "", ""},
		{"base64 with a line break after it", b64 + "\n", "{file: s, encoding: base64}", secret, "", ""},
		{"base64url without padding", url, "{file: s, encoding: base64}", secret, "", ""},
		{"a JWK", `{"kty":"oct","k":"` + url + `","alg":"HS256"}`, "{file: s, encoding: jwk}", secret, "", ""},
		{"a JWKS of one", `{"keys":[{"kty":"oct","k":"` + url + `"}]}`, "{file: s, encoding: jwk}", secret, "", ""},
		{"not base64", "!!!", "{file: s, encoding: base64}", nil, "", "p.yaml:5:68: issuer login: secret (encoding base64): not base64"},
		{"an RSA JWK", `{"kty":"RSA","n":"AQAB","e":"AQAB"}`, "{file: s, encoding: jwk}", nil, "", `p.yaml:5:68: issuer login: secret (encoding jwk): not a JWK of kty "oct" with "k" (or a JWKS holding exactly one)`},
		{"too short once decoded", base64.StdEncoding.EncodeToString([]byte("short")), "{file: s, encoding: base64}", nil, "", "p.yaml:5:68: issuer login: secret from s is 5 bytes; HS256 needs at least 32"},
		{"an unknown encoding", "x", "{file: s, encoding: hex}", nil, "", `p.yaml:5:88: identity.issuers[0].secret.encoding must be one of [raw base64 jwk], not "hex"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			policy := "version: 1\nname: t\nidentity:\n  issuers:\n    - {name: login, audiences: [api], algorithms: [HS256], secret: " + tc.source + "}\nlevels: {public: 0}\ncors: {origins: [\"https://a.example\"]}\nservices:\n  - {name: a, hosts: [a.example], routes: [{path: /, access: public}]}\n"
			os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(policy), 0o644)
			os.WriteFile(filepath.Join(dir, "s"), []byte(tc.file), 0o600)
			wd, _ := os.Getwd()
			os.Chdir(dir)
			defer os.Chdir(wd)
			res, err := CompileFiles([]string{"p.yaml"}, Settings{})
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v\nwant %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Warnings.Error(); tc.warn != "" && got != tc.warn || tc.warn == "" && len(res.Warnings) > 0 {
				t.Errorf("warnings %q\nwant %q", got, tc.warn)
			}
			if k := res.Config.Identity.Issuers[0].Keys[0].K; k != base64.RawURLEncoding.EncodeToString(tc.want) {
				t.Errorf("key %q, want the bytes %q", k, tc.want)
			}
		})
	}
}
