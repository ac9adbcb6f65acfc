package token

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestKeyedHMAC: the keyed method agrees with golang-jwt's on every
// algorithm, over many tokens through one key (Reset must restore the
// keyed state each time), and refuses what golang-jwt refuses.
func TestKeyedHMAC(t *testing.T) {
	secret := []byte(strings.Repeat("k", 64))
	key := newHMACKey(secret)
	for alg, km := range keyedMethods {
		for i := range 20 {
			tok, err := jwt.NewWithClaims(km.SigningMethodHMAC, jwt.MapClaims{"sub": strings.Repeat("s", i*37), "n": i}).SignedString(secret)
			if err != nil {
				t.Fatal(err)
			}
			dot := strings.LastIndexByte(tok, '.')
			sig, _ := base64.RawURLEncoding.DecodeString(tok[dot+1:])
			if err := km.Verify(tok[:dot], sig, key); err != nil {
				t.Fatalf("%s token %d: %v", alg, i, err)
			}
			if err := km.Verify(tok[:dot]+"x", sig, key); !errors.Is(err, jwt.ErrSignatureInvalid) {
				t.Fatalf("%s: a changed token: %v", alg, err)
			}
			if err := km.Verify(tok[:dot], sig, secret); !errors.Is(err, jwt.ErrInvalidKeyType) {
				t.Fatalf("%s: a key of another type: %v", alg, err)
			}
			if err := km.Verify(tok[:dot], sig, newHMACKey([]byte(strings.Repeat("o", 64)))); !errors.Is(err, jwt.ErrSignatureInvalid) {
				t.Fatalf("%s: another secret: %v", alg, err)
			}
		}
	}
}

func BenchmarkKeyedHMACVerify(b *testing.B) {
	tok := benchTokens(1)[0]
	i := strings.LastIndexByte(tok, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	key := newHMACKey(benchSecret)
	m := keyedMethods["HS256"]
	for b.Loop() {
		if err := m.Verify(tok[:i], sig, key); err != nil {
			b.Fatal(err)
		}
	}
}
