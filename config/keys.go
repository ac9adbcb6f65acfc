package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
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
	if alg == "EdDSA" {
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
