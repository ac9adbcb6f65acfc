// Package mint signs test tokens for a policy's issuers: for `keycard
// token`, the policy test cases and the demo. It is never part of the
// filter.
package mint

import (
	"cmp"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/config"
)

// Claims are what a minted token says.
type Claims struct {
	Subject  string
	Level    int
	Roles    []string
	TTL      time.Duration // negative: already expired
	JTI      string
	Audience []string       // default: the issuer's first audience
	Scopes   []string       // granted as one space-separated string at the scopes path (default scope)
	Extra    map[string]any // more claims, by claim path (config.ParseClaimPath)
}

// Token signs a token for issuer is of cfg. keyFile is the private key
// (PKCS#8 PEM) for an asymmetric issuer; an HMAC issuer signs with the
// secret the configuration holds.
func Token(cfg *config.Config, issuer string, keyFile string, c Claims, now time.Time) (string, error) {
	var is *config.Issuer
	for i := range cfg.Identity.Issuers {
		if cfg.Identity.Issuers[i].Name == issuer || issuer == "" && cfg.Identity.Issuers[i].Kind == config.KindJWT {
			is = &cfg.Identity.Issuers[i]
			break
		}
	}
	if is == nil {
		return "", fmt.Errorf("the policy has no JWT issuer %q", issuer)
	}
	if is.Kind != config.KindJWT {
		return "", fmt.Errorf("issuer %s hands out opaque tokens: get one from the sidecar", is.Name)
	}
	ttl := c.TTL
	if ttl == 0 {
		ttl = time.Hour
	}
	claims := jwt.MapClaims{
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
	if ttl < 0 {
		claims["iat"] = now.Add(2 * ttl).Unix()
	}
	if is.Issuer != "" {
		claims["iss"] = is.Issuer
	}
	aud := c.Audience
	if aud == nil && len(is.Audiences) > 0 {
		aud = is.Audiences[:1]
	}
	if len(aud) > 0 {
		claims["aud"] = aud
	}
	names := cfg.Identity.Claims
	if o := is.Claims; o != nil {
		names.Level, names.Roles, names.Scopes = cmp.Or(o.Level, names.Level), cmp.Or(o.Roles, names.Roles), cmp.Or(o.Scopes, names.Scopes)
	}
	set := func(path string, v any) error {
		segs, err := config.ParseClaimPath(path)
		if err != nil {
			return err
		}
		m := claims
		for _, s := range segs[:len(segs)-1] {
			next, ok := m[s].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[s] = next
			}
			m = next
		}
		m[segs[len(segs)-1]] = v
		return nil
	}
	var errs []error
	if c.Subject != "" {
		errs = append(errs, set(names.Subject, c.Subject))
		if names.Subject != "sub" {
			claims["sub"] = c.Subject
		}
	}
	errs = append(errs, set(names.Level, c.Level))
	if c.Roles != nil {
		errs = append(errs, set(names.Roles, c.Roles))
	}
	if c.Scopes != nil {
		errs = append(errs, set(cmp.Or(names.Scopes, "scope"), strings.Join(c.Scopes, " ")))
	}
	if c.JTI != "" {
		claims["jti"] = c.JTI
	}
	for _, k := range slices.Sorted(maps.Keys(c.Extra)) {
		errs = append(errs, set(k, c.Extra[k]))
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	alg := is.Algorithms[0]
	method := jwt.GetSigningMethod(alg)
	if method == nil {
		return "", fmt.Errorf("algorithm %s cannot sign", alg)
	}
	t := jwt.NewWithClaims(method, claims)
	if config.KeyTypeFor(alg) == "oct" {
		for _, k := range is.Keys {
			if k.Kty == "oct" {
				secret, err := base64.RawURLEncoding.DecodeString(k.K)
				if err != nil {
					return "", err
				}
				return t.SignedString(secret)
			}
		}
		if is.Remote != nil && is.Remote.Secret != "" {
			secret, err := RuntimeSecret(is.Remote.Secret)
			if err == nil {
				secret, err = config.DecodeSecret(secret, is.Remote.SecretEncoding)
			}
			if err != nil {
				return "", fmt.Errorf("issuer %s: %w", is.Name, err)
			}
			return t.SignedString(secret)
		}
		return "", fmt.Errorf("issuer %s has no secret", is.Name)
	}
	if keyFile == "" {
		return "", fmt.Errorf("issuer %s signs with %s: give its private key (--key)", is.Name, alg)
	}
	key, err := PrivateKey(keyFile)
	if err != nil {
		return "", err
	}
	for _, k := range is.Keys {
		if k.Kid != "" && k.Fits(alg) {
			t.Header["kid"] = k.Kid
			break
		}
	}
	return t.SignedString(key)
}

// PrivateKey reads a PKCS#8 (or SEC 1 EC / PKCS#1 RSA) PEM private key.
func PrivateKey(file string) (crypto.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%s: no PEM block", file)
	}
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New(file + ": not a PKCS#8, EC or RSA private key")
}

// RandomID is a fresh jti: 96 random bits, hex.
func RandomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// RuntimeSecret finds a run-time secret (secret: {runtime: NAME}) where
// the sidecar finds it: $KEYCARD_SECRET_<NAME>. A command with
// --secret-file replaces it to read files first, as the sidecar does.
var RuntimeSecret = func(name string) ([]byte, error) {
	env := config.SecretEnv(name)
	if v, ok := os.LookupEnv(env); ok && v != "" {
		return []byte(v), nil
	}
	return nil, fmt.Errorf("run-time secret %s: give --secret-file %s=PATH or set %s, as for the sidecar", name, name, env)
}
