package config

import (
	"strings"
	"testing"
)

func TestParseJWKS(t *testing.T) {
	ec := `{"kty":"EC","kid":"e1","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`
	for _, tc := range []struct {
		name, doc, err string
		n, bad         int
	}{
		{"one key", `{"keys":[` + ec + `]}`, "", 1, 0},
		{"an encryption key and an unknown type", `{"keys":[` + ec + `,{"kty":"EC","use":"enc","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},{"kty":"XYZ"}]}`, "", 3, 1},
		{"not JSON", `{"keys":[`, "not a JWKS: invalid JSON at byte 9", 0, 0},
		{"no keys member", `{"key":[]}`, `not a JWKS: no "keys" member`, 0, 0},
		{"empty", `{"keys":[]}`, "JWKS has no keys", 0, 0},
		{"keys of the wrong type", `{"keys":{}}`, `not a JWKS: "keys" is not a list`, 0, 0},
		{"a private key", `{"keys":[` + strings.Replace(ec, `"kty"`, `"d":"AAAA","kty"`, 1) + `]}`, "key 0 is private or symmetric: a JWKS here holds public keys only", 0, 0},
		{"a symmetric key", `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, "key 0 is private or symmetric: a JWKS here holds public keys only", 0, 0},
		{"a member of the wrong type", `{"keys":[{"kty":1}]}`, `key 0: "kty" is not a string`, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseJWKS([]byte(tc.doc))
			if msg := errString(err); msg != tc.err {
				t.Fatalf("err %q, want %q", msg, tc.err)
			}
			bad := 0
			for _, e := range got {
				if e.Err != nil {
					bad++
				}
			}
			if len(got) != tc.n || bad != tc.bad {
				t.Errorf("%d keys, %d bad; want %d, %d", len(got), bad, tc.n, tc.bad)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzParseJWKS: a provider's answer never panics the reader, and what it
// takes as good parses.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"EC","kid":"e1","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","use":"sig","alg":"RS256"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseJWKS(data)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Key.Kty == "oct" || e.Key.K != "" {
				t.Fatalf("a symmetric key was taken: %+v", e.Key)
			}
			if e.Err == nil {
				if _, err := e.Key.Parse(); err != nil {
					t.Fatalf("a good entry does not parse: %v", err)
				}
			}
		}
	})
}
