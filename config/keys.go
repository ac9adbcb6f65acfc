package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// MinRSABits is the smallest RSA modulus accepted.
const MinRSABits = 2048

var curves = map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}

// curveFor is the curve each ECDSA algorithm is defined on (RFC 7518).
var curveFor = map[string]string{"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}

// Fits reports whether the key can verify alg.
func (k Key) Fits(alg string) bool {
	if KeyTypeFor(alg) != k.Kty {
		return false
	}
	if c, ok := curveFor[alg]; ok {
		return k.Crv == c
	}
	if CanonicalAlgorithm(alg) == "EdDSA" {
		return k.Crv == "Ed25519"
	}
	return true
}

// Parse turns the key into what crypto verification needs: []byte for
// "oct", *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey.
func (k Key) Parse() (any, error) {
	b64 := base64.RawURLEncoding
	field := func(name, v string) ([]byte, error) {
		if v == "" {
			return nil, fmt.Errorf("%s key has no %q", k.Kty, name)
		}
		b, err := b64.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("%s key: %q is not base64url: %v", k.Kty, name, err)
		}
		return b, nil
	}
	switch k.Kty {
	case "oct":
		return field("k", k.K)
	case "EC":
		curve, ok := curves[k.Crv]
		if !ok {
			return nil, fmt.Errorf("EC key: curve %q is not P-256, P-384 or P-521", k.Crv)
		}
		x, err := field("x", k.X)
		if err != nil {
			return nil, err
		}
		y, err := field("y", k.Y)
		if err != nil {
			return nil, err
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return nil, fmt.Errorf("EC key: %s coordinates must be %d bytes", k.Crv, size)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("EC key: %v", err)
		}
		return pub, nil
	case "RSA":
		n, err := field("n", k.N)
		if err != nil {
			return nil, err
		}
		e, err := field("e", k.E)
		if err != nil {
			return nil, err
		}
		if len(e) > 4 {
			return nil, errors.New("RSA key: exponent too large")
		}
		ev := 0
		for _, c := range e {
			ev = ev<<8 | int(c)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ev}
		if pub.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("RSA key: %d-bit modulus, at least %d needed", pub.N.BitLen(), MinRSABits)
		}
		if ev < 3 || ev%2 == 0 {
			return nil, fmt.Errorf("RSA key: bad exponent %d", ev)
		}
		return pub, nil
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, fmt.Errorf("OKP key: curve %q is not Ed25519", k.Crv)
		}
		x, err := field("x", k.X)
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("OKP key: Ed25519 key must be %d bytes", ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, fmt.Errorf("key type %q is not oct, EC, RSA or OKP", k.Kty)
}

// KeyFrom describes a public key (or HMAC secret as []byte) as a Key.
func KeyFrom(kid string, pub any) (Key, error) {
	b64 := base64.RawURLEncoding
	switch p := pub.(type) {
	case []byte:
		return Key{Kid: kid, Kty: "oct", K: b64.EncodeToString(p)}, nil
	case *ecdsa.PublicKey:
		name := p.Curve.Params().Name
		if _, ok := curves[name]; !ok {
			return Key{}, fmt.Errorf("EC curve %s is not supported", name)
		}
		raw, err := p.Bytes()
		if err != nil {
			return Key{}, err
		}
		size := (len(raw) - 1) / 2
		return Key{Kid: kid, Kty: "EC", Crv: name, X: b64.EncodeToString(raw[1 : 1+size]), Y: b64.EncodeToString(raw[1+size:])}, nil
	case *rsa.PublicKey:
		return Key{Kid: kid, Kty: "RSA", N: b64.EncodeToString(p.N.Bytes()), E: b64.EncodeToString(big.NewInt(int64(p.E)).Bytes())}, nil
	case ed25519.PublicKey:
		return Key{Kid: kid, Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(p)}, nil
	}
	return Key{}, fmt.Errorf("key type %T is not supported", pub)
}

// JWKSEntry is one key of a published JSON Web Key Set (RFC 7517 section
// 5) with the members that say what it is for. Err is set when the key
// cannot verify anything here: an unknown type, a malformed or too weak
// key.
type JWKSEntry struct {
	Key Key
	Use string // "sig", "enc" or ""
	Alg string // the algorithm the publisher intends, or ""
	Err error
}

// ParseJWKS reads a key set. A set with private or symmetric keys is
// refused as a whole: whoever published it leaked them, and a verifier
// must not take an HMAC secret from a public document (the RS256/HS256
// confusion). Other faults are per key, in the entry's Err.
func ParseJWKS(data []byte) ([]JWKSEntry, error) {
	var set struct {
		Keys *[]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWKS: %s", jsonProblem(err))
	}
	if set.Keys == nil {
		return nil, errors.New("not a JWKS: no \"keys\" member")
	}
	if len(*set.Keys) == 0 {
		return nil, errors.New("JWKS has no keys")
	}
	out := make([]JWKSEntry, 0, len(*set.Keys))
	for i, raw := range *set.Keys {
		var m struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
			N   string `json:"n"`
			E   string `json:"e"`
			D   string `json:"d"`
			K   string `json:"k"`
			Use string `json:"use"`
			Alg string `json:"alg"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("key %d: %s", i, jsonProblem(err))
		}
		if m.D != "" || m.K != "" || m.Kty == "oct" {
			return nil, fmt.Errorf("key %d is private or symmetric: a JWKS here holds public keys only", i)
		}
		e := JWKSEntry{Key: Key{Kid: m.Kid, Kty: m.Kty, Crv: m.Crv, X: m.X, Y: m.Y, N: m.N, E: m.E}, Use: m.Use, Alg: m.Alg}
		if _, err := e.Key.Parse(); err != nil {
			e.Err = err
		}
		out = append(out, e)
	}
	return out, nil
}

// Unusable says why a published key may not verify an issuer's tokens,
// or nil when it may: a signing key (use absent or "sig") that parses,
// fits one of the issuer's algorithms and, when it names its alg, names
// one of them. A key set from a file and one fetched by the sidecar
// follow this one rule.
func (e JWKSEntry) Unusable(algs []string) error {
	switch {
	case e.Err != nil:
		return e.Err
	case e.Use != "" && e.Use != "sig":
		return fmt.Errorf("use %q is not sig", e.Use)
	}
	if e.Alg != "" {
		named := false
		for _, a := range algs {
			named = named || CanonicalAlgorithm(a) == CanonicalAlgorithm(e.Alg)
		}
		if !named {
			return fmt.Errorf("alg %s is not one of the issuer's %v", e.Alg, algs)
		}
	}
	for _, a := range algs {
		if e.Key.Fits(a) {
			return nil
		}
	}
	kind := e.Key.Kty
	if e.Key.Crv != "" {
		kind += " " + e.Key.Crv
	}
	return fmt.Errorf("its %s key fits none of the issuer's algorithms %v", kind, algs)
}

// jsonProblem says what is wrong with a JSON document without Go's type
// names.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("%q is not a %s", typ.Field, jsonKind(typ.Type.Kind().String()))
		}
		return "not a JSON object"
	}
	return "invalid JSON"
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "slice":
		return "list"
	case "struct", "map", "ptr":
		return "object"
	}
	return "number"
}

// Secret encodings: how an HMAC secret's bytes are written where they
// are kept (a file, an environment variable, the sidecar's secret).
const (
	SecretRaw    = ""       // the bytes as they are, a final line break included
	SecretBase64 = "base64" // standard or URL alphabet, padded or not; surrounding white space is not part of it
	SecretJWK    = "jwk"    // a JWK of kty oct (RFC 7517), or a JWKS holding one
)

// DecodeSecret turns a secret as kept into its bytes.
func DecodeSecret(data []byte, encoding string) ([]byte, error) {
	switch encoding {
	case SecretRaw:
		return data, nil
	case SecretBase64:
		s := strings.TrimSpace(string(data))
		s = strings.TrimRight(s, "=")
		if strings.ContainsAny(s, "-_") {
			b, err := base64.RawURLEncoding.DecodeString(s)
			if err != nil {
				return nil, errors.New("not base64 (URL alphabet)")
			}
			return b, nil
		}
		b, err := base64.RawStdEncoding.DecodeString(s)
		if err != nil {
			return nil, errors.New("not base64")
		}
		return b, nil
	case SecretJWK:
		var jwk struct {
			Kty  *string          `json:"kty"`
			K    string           `json:"k"`
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal(data, &jwk); err != nil {
			return nil, fmt.Errorf("not a JWK: %s", jsonProblem(err))
		}
		if jwk.Kty == nil && len(jwk.Keys) == 1 {
			one, _ := json.Marshal(jwk.Keys[0])
			return DecodeSecret(one, SecretJWK)
		}
		if jwk.Kty == nil || *jwk.Kty != "oct" || jwk.K == "" {
			return nil, errors.New(`not a JWK of kty "oct" with "k" (or a JWKS holding exactly one)`)
		}
		b, err := base64.RawURLEncoding.DecodeString(jwk.K)
		if err != nil {
			return nil, errors.New(`JWK "k" is not base64url without padding`)
		}
		return b, nil
	}
	return nil, fmt.Errorf("encoding %q is not base64 or jwk", encoding)
}
