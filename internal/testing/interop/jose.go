package interop

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Jose is what jose.mjs minted: an issuer per algorithm and its tokens.
type Jose struct {
	Now      int64        `json:"now"`
	Audience string       `json:"audience"`
	Issuers  []JoseIssuer `json:"issuers"`
	Tokens   []JoseToken  `json:"tokens"`
}

// JoseIssuer is one algorithm's issuer and its verification key: a
// public JWK (with kid, alg and use) and its PEM, or an HMAC secret.
type JoseIssuer struct {
	Alg    string          `json:"alg"`
	Iss    string          `json:"iss"`
	Kid    string          `json:"kid"`
	Secret string          `json:"secret"` // base64url
	JWK    json.RawMessage `json:"jwk"`
	PEM    string          `json:"pem"`
}

// JoseToken is one token with jose.jwtVerify's verdict on it, given the
// key itself (a PEM or a secret: kid not looked at) and given the key set
// (a key chosen by kid and alg): "ok" or jose's error code.
type JoseToken struct {
	Alg      string `json:"alg"`
	Name     string `json:"name"`
	Token    string `json:"token"`
	JoseKey  string `json:"jose_key"`
	JoseJWKS string `json:"jose_jwks"`
}

// MintJose runs jose.mjs in dir (Node's result).
func MintJose(t testing.TB, dir string) *Jose {
	t.Helper()
	cmd := exec.Command("node", "jose.mjs")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("interop: node jose.mjs: %v\n%s", err, stderr.String())
	}
	var j Jose
	if err := json.Unmarshal(out, &j); err != nil {
		t.Fatalf("interop: jose.mjs output: %v", err)
	}
	return &j
}

// Key forms: how a policy holds each issuer's key.
const (
	FormJWKS = "jwks" // a JWKS file with the provider's JWK (kid, alg, use); HMAC: secret encoding jwk
	FormPEM  = "pem"  // a PEM file (no kid); HMAC: the raw secret bytes in a file
)

// Families group the algorithms by key type, for hosts that take a
// smaller configuration at a time.
var Families = [][]string{{"HS256", "HS384", "HS512"}, {"RS256", "RS384", "RS512"}, {"PS256", "PS384", "PS512"}, {"ES256", "ES384", "ES512"}, {"EdDSA", "Ed25519"}}

// Policy writes a policy holding the key of every issuer whose algorithm
// is in algs (nil: all) in form, with its key files, under dir, and
// returns the policy file. GET api.example/me needs level 1 and forwards
// the subject as X-Auth-Sub.
func (j *Jose) Policy(t testing.TB, dir, form string, algs []string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nname: interop\nidentity:\n  issuers:\n")
	for i, is := range j.Issuers {
		if algs != nil && !slices.Contains(algs, is.Alg) {
			continue
		}
		fmt.Fprintf(&b, "    - name: %s\n      issuer: %q\n      audiences: [%s]\n      algorithms: [%s]\n      require_exp: true\n",
			strings.ToLower(is.Alg), is.Iss, j.Audience, is.Alg)
		file := filepath.Join(dir, fmt.Sprintf("key-%d", i))
		var data []byte
		switch {
		case is.Secret != "" && form == FormJWKS:
			data, _ = json.Marshal(map[string]string{"kty": "oct", "k": is.Secret, "kid": is.Kid, "alg": is.Alg})
			fmt.Fprintf(&b, "      secret: {file: %s, encoding: jwk}\n", filepath.Base(file))
		case is.Secret != "":
			raw, err := base64.RawURLEncoding.DecodeString(is.Secret)
			if err != nil {
				t.Fatal(err)
			}
			data = raw
			fmt.Fprintf(&b, "      secret: {file: %s}\n", filepath.Base(file))
		case form == FormJWKS:
			data = []byte(`{"keys":[` + string(is.JWK) + `]}`)
			fmt.Fprintf(&b, "      jwks: {file: %s}\n", filepath.Base(file))
		default:
			data = []byte(is.PEM)
			fmt.Fprintf(&b, "      pem: {file: %s}\n", filepath.Base(file))
		}
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b.WriteString(apiService("X-Auth-Sub: subject", "{path: /me, access: user}"))
	p := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Want is what Keycard must answer for the token when its issuer's key
// is held in form, from jose's verdict: 200 and the subject forwarded
// when jose accepts it, 401 token_expired when jose says it expired, 401
// invalid_token for every other refusal.
func (tok JoseToken) Want(form string) (status int, reason string) {
	verdict := tok.JoseKey
	if form == FormJWKS {
		verdict = tok.JoseJWKS
	}
	switch verdict {
	case "ok":
		return 200, ""
	case "ERR_JWT_EXPIRED":
		return 401, "token_expired"
	}
	return 401, "invalid_token"
}

// Subject is the token's sub, as Keycard must forward it.
func (tok JoseToken) Subject() string {
	parts := strings.Split(tok.Token, ".")
	if len(parts) != 3 {
		return ""
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Sub string `json:"sub"`
	}
	json.Unmarshal(data, &c)
	return c.Sub
}
