package token

import (
	"crypto/ed25519"
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
		if _, err := v.header(h); err != nil {
			b.Fatal(err)
		}
	}
}

// TestIssuerSelection: issuers that share a key are told apart by the
// token's iss and then by their own checks; every issuer the token fits
// is tried, and the typ and size rules answer as documented.
func TestIssuerSelection(t *testing.T) {
	k, _ := config.KeyFrom("", benchSecret)
	hs := func(name, iss string, aud ...string) config.Issuer {
		return config.Issuer{Name: name, Kind: config.KindJWT, Issuer: iss, Audiences: aud, Algorithms: []string{"HS256"}, Keys: []config.Key{k}}
	}
	v1 := hs("entra-v1", "https://sts.windows.net/t/", "api://shop")
	v2 := hs("entra-v2", "https://login.microsoftonline.com/t/v2.0", "shop-client-id")
	orders := hs("orders", "https://idp", "orders")
	billing := hs("billing", "https://idp", "billing")
	typed := hs("typed", "https://typed", "api")
	typed.TokenType = "at+jwt"
	id := &config.Identity{Issuers: []config.Issuer{v1, v2, orders, billing, typed}, Claims: config.Claims{Subject: "sub", Level: "level", Roles: "roles"}}
	v, err := New("shop", id, func() time.Time { return benchNow }, 2048, 16)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(header map[string]any, c jwt.MapClaims) string {
		c["exp"] = benchNow.Add(time.Hour).Unix()
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		for h, x := range header {
			tok.Header[h] = x
		}
		s, _ := tok.SignedString(benchSecret)
		return s
	}
	expired := func() string {
		c := jwt.MapClaims{"iss": "https://idp", "aud": "billing", "sub": "u", "exp": benchNow.Add(-time.Hour).Unix()}
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(benchSecret)
		return s
	}()
	for _, c := range []struct {
		name, tok, issuer string
		err               error
	}{
		{"v2 token among v1 and v2 on one key", sign(nil, jwt.MapClaims{"iss": v2.Issuer, "aud": "shop-client-id", "sub": "u"}), "entra-v2", nil},
		{"v1 token", sign(nil, jwt.MapClaims{"iss": v1.Issuer, "aud": "api://shop", "sub": "u"}), "entra-v1", nil},
		{"v2 iss with v1's audience", sign(nil, jwt.MapClaims{"iss": v2.Issuer, "aud": "api://shop", "sub": "u"}), "", ErrInvalid},
		{"second issuer of one iss, by audience", sign(nil, jwt.MapClaims{"iss": "https://idp", "aud": "billing", "sub": "u"}), "billing", nil},
		{"first issuer of one iss", sign(nil, jwt.MapClaims{"iss": "https://idp", "aud": "orders", "sub": "u"}), "orders", nil},
		{"expired for the issuer that fits", expired, "", ErrExpired},
		{"iss with a trailing slash is another issuer", sign(nil, jwt.MapClaims{"iss": "https://idp/", "aud": "orders", "sub": "u"}), "", ErrInvalid},
		{"at+jwt", sign(map[string]any{"typ": "at+jwt"}, jwt.MapClaims{"iss": "https://typed", "aud": "api", "sub": "u"}), "typed", nil},
		{"application/at+jwt", sign(map[string]any{"typ": "application/AT+JWT"}, jwt.MapClaims{"iss": "https://typed", "aud": "api", "sub": "u"}), "typed", nil},
		{"an ID token where at+jwt is required", sign(map[string]any{"typ": "JWT"}, jwt.MapClaims{"iss": "https://typed", "aud": "api", "sub": "u"}), "", ErrInvalid},
		{"no typ where at+jwt is required", sign(map[string]any{"typ": nil}, jwt.MapClaims{"iss": "https://typed", "aud": "api", "sub": "u"}), "", ErrInvalid},
		{"typ twice", b64JSON(`{"alg":"HS256","typ":"at+jwt","typ":"at+jwt"}`) + "." + b64JSON(`{}`) + ".AAAA", "", ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, err := v.Verify(c.tok)
			if err != c.err {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if err == nil && id.Issuer != c.issuer {
				t.Errorf("issuer %s, want %s", id.Issuer, c.issuer)
			}
		})
	}
	big := sign(nil, jwt.MapClaims{"iss": "https://idp", "aud": "orders", "pad": strings.Repeat("x", 2048)})
	_, err = v.Verify(big)
	if tl, ok := err.(*TooLarge); !ok || tl.Max != 2048 || tl.Error() != fmt.Sprintf("token is %d bytes, over options.max_token_bytes 2048", len(big)) {
		t.Errorf("a token over the limit: %v", err)
	}
}

func b64JSON(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestEd25519Name: RFC 9864's Ed25519 and EdDSA name one algorithm,
// whichever the policy pins and the token's header says.
func TestEd25519Name(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	k, _ := config.KeyFrom("", pub)
	for _, pinned := range []string{"EdDSA", "Ed25519"} {
		id := &config.Identity{Issuers: []config.Issuer{{Name: "ed", Kind: config.KindJWT, Algorithms: []string{pinned}, Keys: []config.Key{k}}}, Claims: config.Claims{Subject: "sub"}}
		v, err := New("shop", id, func() time.Time { return benchNow }, 8192, 16)
		if err != nil {
			t.Fatal(err)
		}
		for _, alg := range []string{"EdDSA", "Ed25519"} {
			tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "u"})
			tok.Header["alg"] = alg
			s, err := tok.SignedString(priv)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(s); err != nil {
				t.Errorf("pinned %s, token %s: %v", pinned, alg, err)
			}
		}
	}
}

// TestClaimPaths: the subject, level and roles are read where providers
// put them — nested objects (Keycloak's realm_access.roles), a client's
// entry under a name with a dash (resource_access."shop-api".roles), a
// namespaced claim with dots and slashes (Auth0's
// "https://shop.example/roles"), a space-separated string — and an
// issuer may name its own level and roles paths.
func TestClaimPaths(t *testing.T) {
	k, _ := config.KeyFrom("", benchSecret)
	is := func(name, iss string, claims *config.Claims) config.Issuer {
		return config.Issuer{Name: name, Kind: config.KindJWT, Issuer: iss, Algorithms: []string{"HS256"}, Keys: []config.Key{k}, Claims: claims}
	}
	id := &config.Identity{
		Issuers: []config.Issuer{
			is("keycloak", "https://kc", nil),
			is("auth0", "https://auth0/", &config.Claims{Roles: `"https://shop.example/roles"`, Level: `"https://shop.example/level"`}),
			is("client", "https://client", &config.Claims{Roles: `resource_access."shop-api".roles`}),
			is("okta", "https://okta", &config.Claims{Roles: "scp"}),
		},
		Claims: config.Claims{Subject: "sub", Level: "attrs.level", Roles: "realm_access.roles"},
	}
	v, err := New("shop", id, func() time.Time { return benchNow }, 8192, 16)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(c jwt.MapClaims) string {
		c["exp"] = benchNow.Add(time.Hour).Unix()
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(benchSecret)
		return s
	}
	for _, tc := range []struct {
		name string
		tok  string
		want string // subject level roles, or the error
	}{
		{"keycloak realm roles", sign(jwt.MapClaims{"iss": "https://kc", "sub": "u1", "attrs": map[string]any{"level": 2}, "realm_access": map[string]any{"roles": []string{"admin", "staff"}}}), "u1 2 [admin staff]"},
		{"keycloak without the nested claims", sign(jwt.MapClaims{"iss": "https://kc", "sub": "u1", "realm_access": "admin"}), "u1 0 []"},
		{"auth0 namespaced claims", sign(jwt.MapClaims{"iss": "https://auth0/", "sub": "auth0|7", "https://shop.example/roles": []string{"billing"}, "https://shop.example/level": "1"}), "auth0|7 1 [billing]"},
		{"a client's roles", sign(jwt.MapClaims{"iss": "https://client", "sub": 42, "resource_access": map[string]any{"other": map[string]any{"roles": []string{"admin"}}, "shop-api": map[string]any{"roles": []string{"support"}}}}), "42 0 [support]"},
		{"scopes as one string", sign(jwt.MapClaims{"iss": "https://okta", "sub": "svc", "scp": "orders:read orders:write"}), "svc 0 [orders:read orders:write]"},
		{"a nested level that is no level", sign(jwt.MapClaims{"iss": "https://kc", "sub": "u1", "attrs": map[string]any{"level": 256}}), "invalid token"},
		{"roles given twice inside", b64JSON(`{"alg":"HS256"}`) + "." + b64JSON(`{"iss":"https://kc","sub":"u","exp":9999999999,"realm_access":{"roles":["a"],"roles":["admin"]}}`), "invalid token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.tok
			if strings.Count(tok, ".") == 1 { // hand-written: sign it
				mac := jwt.SigningMethodHS256
				sig, _ := mac.Sign(tok, benchSecret)
				tok += "." + base64.RawURLEncoding.EncodeToString(sig)
			}
			id, err := v.Verify(tok)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = fmt.Sprintf("%s %d %v", id.Subject, id.Level, id.Roles)
			}
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
