package state

import (
	"strings"
	"testing"
)

func TestDecodeKeySet(t *testing.T) {
	key := `{"kty":"EC","kid":"e1","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`
	for _, tc := range []struct {
		name, doc, err string
	}{
		{"good", `{"v":1,"issuer":"sso","set":"s","keys":[` + key + `]}`, ""},
		{"another issuer", `{"v":1,"issuer":"other","set":"s","keys":[` + key + `]}`, `keys: answer for issuer "other", asked for "sso"`},
		{"another version", `{"v":2,"issuer":"sso","set":"s","keys":[` + key + `]}`, "keys: version 2, this build reads 1"},
		{"no keys", `{"v":1,"issuer":"sso","set":"s","keys":[]}`, "keys: no keys"},
		{"an unknown field", `{"v":1,"issuer":"sso","set":"s","keys":[` + key + `],"x":1}`, `keys: json: unknown field "x"`},
		{"trailing data", `{"v":1,"issuer":"sso","set":"s","keys":[` + key + `]}{}`, "keys: data after the answer"},
		{"a bad key", `{"v":1,"issuer":"sso","set":"s","keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`, "keys: key 0: "},
		{"too many keys", `{"v":1,"issuer":"sso","set":"s","keys":[` + strings.TrimSuffix(strings.Repeat(key+",", MaxKeys+1), ",") + `]}`, "keys: 65 keys, at most 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeKeySet([]byte(tc.doc), "sso")
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tc.err == "" && got != "" || tc.err != "" && !strings.HasPrefix(got, tc.err) {
				t.Errorf("err %q, want %q", got, tc.err)
			}
		})
	}
}

// FuzzDecodeKeySet: a sidecar answer never panics the filter's reader,
// and a set it takes has only keys that parse.
func FuzzDecodeKeySet(f *testing.F) {
	f.Add([]byte(`{"v":1,"issuer":"sso","set":"s","keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`))
	f.Add([]byte(`{"v":1,"issuer":"sso","set":"s","keys":[{"kty":"EC","kid":"e1","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := DecodeKeySet(data, "sso")
		if err != nil {
			return
		}
		if ks.Issuer != "sso" || len(ks.Keys) == 0 || len(ks.Keys) > MaxKeys {
			t.Fatalf("took %+v", ks)
		}
		for _, k := range ks.Keys {
			if _, err := k.Parse(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
