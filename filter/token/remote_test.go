package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/config"
)

// TestPinnedAndRemoteKeys: an issuer's pinned keys work before the
// sidecar's arrive and stay when they change; a token of a remote key
// that left the set is no longer verified, even from the cache.
func TestPinnedAndRemoteKeys(t *testing.T) {
	mk := func(kid string) (*ecdsa.PrivateKey, config.Key) {
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		k, err := config.KeyFrom(kid, &priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return priv, k
	}
	pinnedPriv, pinned := mk("pinned")
	r1Priv, r1 := mk("r1")
	r2Priv, r2 := mk("r2")
	id := &config.Identity{
		Token:   []config.TokenSource{{Header: "Authorization", Scheme: "Bearer"}},
		Issuers: []config.Issuer{{Name: "idp", Kind: config.KindJWT, Algorithms: []string{"ES256"}, Keys: []config.Key{pinned}, Remote: &config.Remote{OIDCIssuer: "https://idp.example", RefreshMillis: 1000, MinIntervalMillis: 100, TimeoutMillis: 100}}},
		Claims:  config.Claims{Subject: "sub", Level: "level", Roles: "roles"},
	}
	v, err := New("shop", id, func() time.Time { return benchNow }, 8192, 16)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(priv *ecdsa.PrivateKey, kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "a", "level": 1, "exp": benchNow.Add(time.Hour).Unix()})
		tok.Header["kid"] = kid
		s, _ := tok.SignedString(priv)
		return s
	}
	needs := func(tok string, none bool) {
		t.Helper()
		_, err := v.Verify(tok)
		var nk *NeedKeys
		if !errors.As(err, &nk) || nk.None != none || nk.Issuer != "idp" {
			t.Fatalf("err %v, want NeedKeys{None: %v}", err, none)
		}
	}
	ok := func(tok string) {
		t.Helper()
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	ok(sign(pinnedPriv, "pinned"))
	needs(sign(r1Priv, "r1"), true)
	if n, err := v.SetRemoteKeys("idp", []config.Key{r1}); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	t1 := sign(r1Priv, "r1")
	ok(t1)
	ok(sign(pinnedPriv, "pinned"))
	needs(sign(r2Priv, "r2"), false)
	v.SetRemoteKeys("idp", []config.Key{r2})
	ok(sign(r2Priv, "r2"))
	ok(sign(pinnedPriv, "pinned"))
	needs(t1, false) // r1 left: the cached verification went with it
	if _, err := v.SetRemoteKeys("nope", nil); err == nil {
		t.Error("keys for an unknown issuer were taken")
	}
}
