package compiler

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/keycard-gw/keycard/config"
)

// TestJWKSFileRule: a provider's key set saved as a file is read by the
// rule the sidecar applies to the same set fetched: encryption keys,
// keys for another alg and keys of another type are left out (each
// named in a warning), and only a set with none left is an error.
func TestJWKSFileRule(t *testing.T) {
	rsaKey := func() map[string]any {
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := config.KeyFrom("", &priv.PublicKey)
		return map[string]any{"kty": k.Kty, "n": k.N, "e": k.E}
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	eck, _ := config.KeyFrom("", &ec.PublicKey)
	with := func(m map[string]any, kv ...string) map[string]any {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	signing := with(rsaKey(), "kid", "sig-1", "use", "sig", "alg", "RS256")
	set := map[string]any{"keys": []any{
		with(rsaKey(), "kid", "enc-1", "use", "enc"),
		with(rsaKey(), "kid", "ps-1", "alg", "PS256"),
		map[string]any{"kty": "EC", "crv": "P-256", "x": eck.X, "y": eck.Y, "kid": "ec-1"},
		signing,
	}}
	dir := t.TempDir()
	data, _ := json.Marshal(set)
	os.WriteFile(filepath.Join(dir, "idp.jwks.json"), data, 0o644)
	only := map[string]any{"keys": []any{set["keys"].([]any)[0]}}
	data, _ = json.Marshal(only)
	os.WriteFile(filepath.Join(dir, "enc.jwks.json"), data, 0o644)
	compile := func(file string) (*Result, error) {
		policy := "version: 1\nname: t\nidentity:\n  issuers:\n    - {name: idp, audiences: [api], algorithms: [RS256], jwks: {file: " + file + "}}\nlevels: {public: 0}\ncors: {origins: [\"https://a.example\"]}\nservices:\n  - {name: a, hosts: [a.example], routes: [{path: /, access: public}]}\n"
		os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(policy), 0o644)
		return CompileFiles([]string{filepath.Join(dir, "p.yaml")}, Settings{})
	}
	res, err := compile("idp.jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	keys := res.Config.Identity.Issuers[0].Keys
	if len(keys) != 1 || keys[0].Kid != "sig-1" {
		t.Fatalf("keys %+v, want sig-1 alone", keys)
	}
	p := filepath.Join(dir, "p.yaml")
	want := p + `:5:64: warning: issuer idp: idp.jwks.json: key 0 (kid enc-1): use "enc" is not sig: left out, as the sidecar leaves it out of a fetched set` + "\n" +
		p + `:5:64: warning: issuer idp: idp.jwks.json: key 1 (kid ps-1): alg PS256 is not one of the issuer's [RS256]: left out, as the sidecar leaves it out of a fetched set` + "\n" +
		p + `:5:64: warning: issuer idp: idp.jwks.json: key 2 (kid ec-1): its EC P-256 key fits none of the issuer's algorithms [RS256]: left out, as the sidecar leaves it out of a fetched set`
	if got := res.Warnings.Error(); got != want {
		t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
	}
	_, err = compile("enc.jwks.json")
	if want := p + `:5:64: issuer idp: enc.jwks.json: none of its 1 keys verifies RS256 (key 0 (kid enc-1): use "enc" is not sig)`; err == nil || err.Error() != want {
		t.Errorf("a set with no usable key: %v\nwant %s", err, want)
	}
}
