package token

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/config"
)

var benchSecret = []byte("keycard-demo-secret-not-for-production")

var benchNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func benchIdentity() *config.Identity {
	k, _ := config.KeyFrom("", benchSecret)
	return &config.Identity{
		Token:   []config.TokenSource{{Header: "Authorization", Scheme: "Bearer"}},
		Issuers: []config.Issuer{{Name: "login", Kind: config.KindJWT, Issuer: "https://login.example", Audiences: []string{"api"}, Algorithms: []string{"HS256"}, RequireExp: true, Keys: []config.Key{k}}},
		Claims:  config.Claims{Subject: "phone", Level: "level", Roles: "roles"},
	}
}

func benchTokens(n int) []string {
	out := make([]string, n)
	for i := range out {
		c := jwt.MapClaims{"iss": "https://login.example", "aud": []string{"api"}, "exp": benchNow.Add(time.Hour).Unix(), "iat": benchNow.Unix(), "phone": "13000000001", "level": 1, "roles": []string{"support"}, "jti": fmt.Sprint(i)}
		out[i], _ = jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(benchSecret)
	}
	return out
}

func TestVerify(t *testing.T) {
	v, err := New("shop", benchIdentity(), func() time.Time { return benchNow }, 8192, 16)
	if err != nil {
		t.Fatal(err)
	}
	tok := benchTokens(1)[0]
	id, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "13000000001" || id.Level != 1 || len(id.Roles) != 1 || id.Roles[0] != "support" || id.Claims.JTI != "0" {
		t.Errorf("identity %+v", id)
	}
	if _, err := v.Verify(tok[:len(tok)-1] + "A"); err != ErrInvalid {
		t.Errorf("tampered: %v", err)
	}
}

// The benchmarks below run natively and, with GOOS=wasip1, inside wazero
// (make bench-wasm), to find what first-seen verification costs there.

func BenchmarkVerifyFirstSeen(b *testing.B) {
	v, _ := New("shop", benchIdentity(), func() time.Time { return benchNow }, 8192, 1)
	toks := benchTokens(64)
	i := 0
	for b.Loop() {
		if _, err := v.Verify(toks[i%len(toks)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	v, _ := New("shop", benchIdentity(), func() time.Time { return benchNow }, 8192, 16)
	tok := benchTokens(1)[0]
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClaimsDecode(b *testing.B) {
	tok := benchTokens(1)[0]
	payload, _ := base64.RawURLEncoding.DecodeString(splitPayload(tok))
	v, _ := New("shop", benchIdentity(), func() time.Time { return benchNow }, 8192, 1)
	for b.Loop() {
		if _, err := v.decodeClaims(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func splitPayload(tok string) string {
	a := 0
	for i := range len(tok) {
		if tok[i] == '.' {
			if a == 0 {
				a = i + 1
			} else {
				return tok[a:i]
			}
		}
	}
	return ""
}

func BenchmarkHMACVerify(b *testing.B) {
	tok := benchTokens(1)[0]
	i := strings.LastIndexByte(tok, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	for b.Loop() {
		if err := jwt.SigningMethodHS256.Verify(tok[:i], sig, benchSecret); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHeader(b *testing.B) {
	v, _ := New("shop", benchIdentity(), func() time.Time { return benchNow }, 8192, 1)
	tok := benchTokens(1)[0]
	h := tok[:strings.IndexByte(tok, '.')]
	for b.Loop() {
		if _, _, _, err := v.header(h); err != nil {
			b.Fatal(err)
		}
	}
}
