package tables

import (
	"crypto/elliptic"
	"encoding/base64"
	"math/big"
	"strings"
)

// MalleateECDSA rewrites a P-256 JWT signature (r, s) as (r, n−s): a
// different string that verifies as well (Go's ecdsa accepts either s).
func MalleateECDSA(tok string) string {
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil || len(sig) != 64 {
		panic("not an ES256 token")
	}
	n := elliptic.P256().Params().N
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(n, s)
	out := append([]byte(nil), sig[:32]...)
	out = append(out, s.FillBytes(make([]byte, 32))...)
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(out)
}

// SpareBits rewrites the last character of a token's segment (0 header,
// 1 payload, 2 signature) so that it differs only in the bits base64url
// leaves unused: the same bytes to a lenient decoder, another string. ok
// is false when the segment's length leaves no spare bits.
func SpareBits(tok string, segment int) (string, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || segment < 0 || segment > 2 {
		return "", false
	}
	p := parts[segment]
	if len(p) == 0 || len(p)%4 == 0 {
		return "", false
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	v := strings.IndexByte(alphabet, p[len(p)-1])
	if v < 0 {
		return "", false
	}
	v ^= 1 // the lowest bit is spare for lengths 2 and 3 (mod 4)
	parts[segment] = p[:len(p)-1] + alphabet[v:v+1]
	return strings.Join(parts, "."), true
}
