package compiler

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keycard-gw/keycard/config"
)

// minSecret is the shortest HMAC secret accepted per algorithm: the hash
// size (RFC 7518 section 3.2).
var minSecret = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// Env looks up environment variables; tests replace it.
type Env func(string) (string, bool)

// keys resolves an issuer's key material and checks that it fits the
// issuer's algorithms.
func (c *compilation) keys(id *Identity, is *IssuerDef) []config.Key {
	d := id.dec
	var keys []config.Key
	algs := make([]string, len(is.Algorithms))
	for i, a := range is.Algorithms {
		algs[i] = a.Value
	}
	if is.Kind == "opaque" {
		if len(algs) > 0 || is.Secret != nil || is.JWKS != nil || is.PEM != nil {
			d.errorf(is.Node, "issuer %s: an opaque issuer has no algorithms or keys (its tokens are checked by the sidecar)", is.Name)
		}
		return nil
	}
	if len(algs) == 0 {
		d.errorf(is.Node, "issuer %s: needs algorithms", is.Name)
		return nil
	}
	for _, a := range is.Algorithms {
		if config.KeyTypeFor(a.Value) == "" {
			known := []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
			d.errorf(a.Node, "issuer %s: algorithm %q is not supported%s", is.Name, a.Value, suggest(a.Value, known))
		}
	}
	if is.Secret != nil {
		if secret, ok := c.readSecret(id, is); ok {
			k, _ := config.KeyFrom("", secret)
			keys = append(keys, k)
		}
	}
	for _, kr := range []*KeyRef{is.JWKS, is.PEM} {
		if kr == nil {
			continue
		}
		if kr.Env != "" {
			d.errorf(kr.Node, "issuer %s: public keys come from a file", is.Name)
			continue
		}
		data, err := os.ReadFile(resolve(id.dir, kr.File))
		if err != nil {
			d.errorf(kr.Node, "issuer %s: %v", is.Name, err)
			continue
		}
		var got []config.Key
		if kr == is.JWKS {
			got, err = parseJWKS(data)
		} else {
			got, err = parsePEM(data)
		}
		if err != nil {
			d.errorf(kr.Node, "issuer %s: %s: %v", is.Name, kr.File, err)
			continue
		}
		keys = append(keys, got...)
	}
	if is.Secret == nil && is.JWKS == nil && is.PEM == nil {
		d.errorf(is.Node, "issuer %s: needs a secret, jwks or pem", is.Name)
		return nil
	}
	for _, a := range is.Algorithms {
		if config.KeyTypeFor(a.Value) == "" {
			continue
		}
		fits := false
		for _, k := range keys {
			fits = fits || k.Fits(a.Value)
		}
		if !fits && len(keys) > 0 {
			d.errorf(a.Node, "issuer %s: algorithm %s does not fit its keys (%s)", is.Name, a.Value, describeKeys(keys))
		}
	}
	for _, k := range keys {
		fits := false
		for _, a := range algs {
			fits = fits || k.Fits(a)
		}
		if !fits {
			d.errorf(is.Node, "issuer %s: key %s fits none of the algorithms %v", is.Name, describeKey(k), algs)
		}
	}
	return keys
}

func (c *compilation) readSecret(id *Identity, is *IssuerDef) ([]byte, bool) {
	d := id.dec
	kr := is.Secret
	var secret []byte
	if kr.Env != "" {
		v, ok := c.env(kr.Env)
		if !ok || v == "" {
			d.errorf(kr.Node, "issuer %s: environment variable %s is not set", is.Name, kr.Env)
			return nil, false
		}
		secret = []byte(v)
	} else {
		data, err := os.ReadFile(resolve(id.dir, kr.File))
		if err != nil {
			d.errorf(kr.Node, "issuer %s: %v", is.Name, err)
			return nil, false
		}
		secret = []byte(strings.TrimRight(string(data), "\r\n"))
	}
	for _, a := range is.Algorithms {
		if n, ok := minSecret[a.Value]; ok && len(secret) < n {
			src := "$" + kr.Env
			if kr.File != "" {
				src = kr.File
			}
			d.errorf(kr.Node, "issuer %s: secret from %s is %d bytes; %s needs at least %d", is.Name, src, len(secret), a.Value, n)
			return nil, false
		}
	}
	return secret, true
}

func parseJWKS(data []byte) ([]config.Key, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWKS: %v", err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("JWKS has no keys")
	}
	var out []config.Key
	for i, raw := range set.Keys {
		var private struct {
			D string `json:"d"`
			K string `json:"k"`
		}
		_ = json.Unmarshal(raw, &private)
		if private.D != "" || private.K != "" {
			return nil, fmt.Errorf("key %d is private or symmetric: a JWKS here holds public keys only", i)
		}
		var k config.Key
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("key %d: %v", i, err)
		}
		if _, err := k.Parse(); err != nil {
			return nil, fmt.Errorf("key %d: %v", i, err)
		}
		out = append(out, k)
	}
	return out, nil
}

func parsePEM(data []byte) ([]config.Key, error) {
	var out []config.Key
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("PEM block %q: only PUBLIC KEY blocks are accepted", b.Type)
		}
		pub, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, err
		}
		k, err := config.KeyFrom(b.Headers["kid"], pub)
		if err != nil {
			return nil, err
		}
		if _, err := k.Parse(); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PEM block")
	}
	return out, nil
}

func describeKey(k config.Key) string {
	s := k.Kty
	if k.Crv != "" {
		s += " " + k.Crv
	}
	if k.Kty == "oct" {
		s = "HMAC secret"
	}
	if k.Kid != "" {
		s += " kid " + k.Kid
	}
	return s
}

func describeKeys(keys []config.Key) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = describeKey(k)
	}
	return strings.Join(parts, ", ")
}

// resolve makes a key file's path relative to the policy file that names
// it, unless it is absolute.
func resolve(dir, file string) string {
	if filepath.IsAbs(file) {
		return file
	}
	return filepath.Join(dir, file)
}
