package compiler

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/config"
)

// Env looks up environment variables; tests replace it.
type Env func(string) (string, bool)

// keys resolves an issuer's key material and checks that it fits the
// issuer's algorithms: the keys pinned in the configuration, and what the
// sidecar holds for it (a fetched key set, a run-time secret).
func (c *compilation) keys(id *Identity, is *IssuerDef) ([]config.Key, *config.Remote) {
	d := id.dec
	var keys []config.Key
	algs := make([]string, len(is.Algorithms))
	for i, a := range is.Algorithms {
		algs[i] = a.Value
	}
	if is.Kind == "opaque" {
		if len(algs) > 0 || is.Secret != nil || is.JWKS != nil || is.PEM != nil || is.OIDC != nil {
			d.errorf(is.Node, "issuer %s: an opaque issuer has no algorithms or keys (its tokens are checked by the sidecar)", is.Name)
		}
		return nil, nil
	}
	if len(algs) == 0 {
		d.errorf(is.Node, "issuer %s: needs algorithms", is.Name)
		return nil, nil
	}
	for _, a := range is.Algorithms {
		if config.KeyTypeFor(a.Value) == "" {
			known := []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"}
			d.errorf(a.Node, "issuer %s: algorithm %q is not supported%s", is.Name, a.Value, suggest(a.Value, known))
		}
	}
	if is.Secret == nil && is.JWKS == nil && is.PEM == nil && is.OIDC == nil {
		d.errorf(is.Node, "issuer %s: needs a secret, jwks, pem or oidc", is.Name)
		return nil, nil
	}
	remote := c.remote(id, is)
	if is.Secret != nil && is.Secret.Runtime == "" {
		if secret, ok := c.readSecret(id, is); ok {
			k, _ := config.KeyFrom("", secret)
			keys = append(keys, k)
		}
	}
	for _, kr := range []*KeyRef{is.JWKS, is.PEM} {
		if kr == nil || kr.URL != "" {
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
			var left []string
			got, left, err = usableJWKS(data, algs)
			for _, why := range left {
				c.warnf(d, kr.Node, "issuer %s: %s: %s: left out, as the sidecar leaves it out of a fetched set", is.Name, kr.File, why)
			}
		} else {
			got, err = parsePEM(data)
		}
		if err != nil {
			d.errorf(kr.Node, "issuer %s: %s: %v", is.Name, kr.File, err)
			continue
		}
		keys = append(keys, got...)
	}
	for _, a := range is.Algorithms {
		if config.KeyTypeFor(a.Value) == "" {
			continue
		}
		fits := false
		for _, k := range keys {
			fits = fits || k.Fits(a.Value)
		}
		if remote != nil {
			fits = fits || remote.Fits(a.Value)
		}
		if !fits && (len(keys) > 0 || remote != nil) {
			d.errorf(a.Node, "issuer %s: algorithm %s does not fit its keys (%s)", is.Name, a.Value, describeSources(keys, remote))
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
	if remote != nil && remote.URL() != "" {
		public := false
		for _, a := range algs {
			public = public || config.KeyTypeFor(a) != "oct"
		}
		if !public {
			d.errorf(is.Node, "issuer %s: a fetched key set holds public keys, and none of the algorithms %v uses one", is.Name, algs)
		}
	}
	return keys, remote
}

// remote reads what the sidecar holds for an issuer: a key set at a URL
// or through OpenID discovery, and a run-time secret.
func (c *compilation) remote(id *Identity, is *IssuerDef) *config.Remote {
	d := id.dec
	var r config.Remote
	var fetch *KeyRef
	if is.JWKS != nil && is.JWKS.URL != "" {
		fetch, r.JWKSURL = is.JWKS, is.JWKS.URL
	}
	if is.OIDC != nil {
		if fetch != nil {
			d.errorf(is.OIDC.Node, "issuer %s: oidc and jwks.url exclude each other (discovery finds the JWKS)", is.Name)
			return nil
		}
		fetch, r.OIDCIssuer = is.OIDC, is.OIDC.URL
	}
	if is.Secret != nil && is.Secret.Runtime != "" {
		r.Secret, r.SecretEncoding = is.Secret.Runtime, is.Secret.Encoding
	}
	if fetch == nil && r.Secret == "" {
		return nil
	}
	f := FetchDef{Refresh: 10 * time.Minute, MinInterval: 30 * time.Second, Timeout: 5 * time.Second}
	if fetch != nil {
		f.AllowHTTP = fetch.Fetch.AllowHTTP
		for _, v := range []struct{ got, def *time.Duration }{{&fetch.Fetch.Refresh, &f.Refresh}, {&fetch.Fetch.MinInterval, &f.MinInterval}, {&fetch.Fetch.Timeout, &f.Timeout}} {
			if *v.got > 0 {
				*v.def = *v.got
			}
		}
		if err := config.CheckKeyURL(fetch.URL, f.AllowHTTP); err != nil {
			d.errorf(fetch.Node, "issuer %s: %v", is.Name, err)
			return nil
		}
		if f.MinInterval > f.Refresh {
			d.errorf(fetch.Node, "issuer %s: min_interval %s is longer than refresh %s", is.Name, f.MinInterval, f.Refresh)
			return nil
		}
		if f.Refresh < time.Second || f.MinInterval < 100*time.Millisecond || f.Timeout < 100*time.Millisecond {
			d.errorf(fetch.Node, "issuer %s: refresh is at least 1s, min_interval and timeout at least 100ms", is.Name)
			return nil
		}
	}
	if r.Secret != "" && !config.ValidSecretName(r.Secret) {
		d.errorf(is.Secret.Node, "issuer %s: secret.runtime %q: the name is letters, digits and _ (the sidecar reads it from %s or --secret-file %s=PATH)", is.Name, r.Secret, config.SecretEnv(r.Secret), r.Secret)
		return nil
	}
	r.RefreshMillis, r.MinIntervalMillis, r.TimeoutMillis = int(f.Refresh/time.Millisecond), int(f.MinInterval/time.Millisecond), int(f.Timeout/time.Millisecond)
	r.AllowHTTP = f.AllowHTTP
	return &r
}

// describeSources names an issuer's keys for an error message.
func describeSources(keys []config.Key, r *config.Remote) string {
	var parts []string
	if len(keys) > 0 {
		parts = append(parts, describeKeys(keys))
	}
	if r != nil && r.URL() != "" {
		parts = append(parts, "public keys from "+r.URL())
	}
	if r != nil && r.Secret != "" {
		parts = append(parts, "run-time secret "+r.Secret)
	}
	return strings.Join(parts, ", ")
}

func (c *compilation) readSecret(id *Identity, is *IssuerDef) ([]byte, bool) {
	d := id.dec
	kr := is.Secret
	var secret []byte
	if kr.Env != "" {
		v, ok := c.env(kr.Env)
		switch {
		case !ok:
			d.errorf(kr.Node, "issuer %s: environment variable %s is not set", is.Name, kr.Env)
			return nil, false
		case v == "":
			d.errorf(kr.Node, "issuer %s: environment variable %s is set but empty", is.Name, kr.Env)
			return nil, false
		}
		secret = []byte(v)
	} else {
		data, err := os.ReadFile(resolve(id.dir, kr.File))
		if err != nil {
			d.errorf(kr.Node, "issuer %s: %v", is.Name, err)
			return nil, false
		}
		// The file's bytes are the secret, a final line break included:
		// a random secret may end in 0x0a, and trimming it would refuse
		// every token. A line break an editor added is warned about.
		secret = data
		if kr.Encoding == config.SecretRaw && len(data) > 0 && (data[len(data)-1] == '\n' || data[len(data)-1] == '\r') {
			c.warnf(d, kr.Node, "issuer %s: secret file %s ends with a line break, which is part of the secret; if an editor added it, remove it (printf '%%s' ... > file), or write the secret as encoding: base64", is.Name, kr.File)
		}
	}
	if kr.Encoding != config.SecretRaw {
		decoded, err := config.DecodeSecret(secret, kr.Encoding)
		if err != nil {
			d.errorf(kr.Node, "issuer %s: secret (encoding %s): %v", is.Name, kr.Encoding, err)
			return nil, false
		}
		secret = decoded
	}
	for _, a := range is.Algorithms {
		if n := config.MinSecretBytes(a.Value); len(secret) < n {
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

// usableJWKS reads a key set file by the rule the sidecar applies to a
// fetched one (config.JWKSEntry.Unusable): the keys that may verify the
// issuer's tokens, and why each other one is left out. A set with none
// left is an error.
func usableJWKS(data []byte, algs []string) ([]config.Key, []string, error) {
	entries, err := config.ParseJWKS(data)
	if err != nil {
		return nil, nil, err
	}
	var out []config.Key
	var left []string
	for i, e := range entries {
		if why := e.Unusable(algs); why != nil {
			name := fmt.Sprintf("key %d", i)
			if e.Key.Kid != "" {
				name += " (kid " + e.Key.Kid + ")"
			}
			left = append(left, name+": "+why.Error())
			continue
		}
		out = append(out, e.Key)
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("none of its %d keys verifies %s (%s)", len(entries), strings.Join(algs, ", "), strings.Join(left, "; "))
	}
	return out, left, nil
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
