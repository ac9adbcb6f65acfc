package token

import (
	"crypto/hmac"
	"hash"

	"github.com/golang-jwt/jwt/v5"
)

// keyedHMAC is golang-jwt's HS256/HS384/HS512 with the HMAC keyed once
// per key instead of once per token: hmac.New hashes the padded key into
// the inner and outer states on every call, two of the five or so hash
// blocks a token costs, and inside wasm SHA-256 is plain Go. A keyed
// hmac.Hash restores those states on Reset. It implements
// jwt.SigningMethod, and verifies only with an *hmacKey (made by
// newHMACKey from the issuer's secret), so a key of another type is
// refused as golang-jwt refuses it. It is not registered with
// golang-jwt: other code in the process keeps golang-jwt's own.
type keyedHMAC struct {
	*jwt.SigningMethodHMAC
	slot int // index of this hash in hmacKey.macs
}

var keyedMethods = map[string]keyedHMAC{
	"HS256": {jwt.SigningMethodHS256, 0},
	"HS384": {jwt.SigningMethodHS384, 1},
	"HS512": {jwt.SigningMethodHS512, 2},
}

// hmacKey is an HMAC secret with a keyed hash per algorithm, made when
// first needed. The filter runs one request at a time per VM, so the
// hashes need no lock.
type hmacKey struct {
	secret []byte
	macs   [3]hash.Hash
	sum    [64]byte
}

func newHMACKey(secret []byte) *hmacKey { return &hmacKey{secret: secret} }

// Verify checks sig over signingString with an *hmacKey.
func (m keyedHMAC) Verify(signingString string, sig []byte, key any) error {
	k, ok := key.(*hmacKey)
	if !ok {
		return jwt.ErrInvalidKeyType
	}
	if !m.Hash.Available() {
		return jwt.ErrHashUnavailable
	}
	mac := k.macs[m.slot]
	if mac == nil {
		mac = hmac.New(m.Hash.New, k.secret)
		k.macs[m.slot] = mac
	} else {
		mac.Reset()
	}
	writeString(mac, signingString)
	if !hmac.Equal(sig, mac.Sum(k.sum[:0])) {
		return jwt.ErrSignatureInvalid
	}
	return nil
}

// writeString feeds s to h in chunks through a small buffer, without
// copying the whole string to the heap.
func writeString(h hash.Hash, s string) {
	var buf [256]byte
	for len(s) > 0 {
		n := copy(buf[:], s)
		h.Write(buf[:n])
		s = s[n:]
	}
}
