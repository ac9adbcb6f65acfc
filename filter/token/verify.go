package token

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/config"
)

// Verification outcomes besides success. Their text never says more than
// the reason a client is told.
var (
	ErrInvalid = errors.New("invalid token")
	ErrExpired = errors.New("token expired")
	ErrOpaque  = errors.New("opaque token: only the sidecar knows it")
)

// Identity is what a verified token says about its bearer.
type Identity struct {
	Issuer  string // issuer name in the policy
	Subject string
	Level   int
	Roles   []string
	JTI     string
	Expires time.Time // zero when the token has no exp
}

// ID identifies a token to the sidecar: its jti, else the SHA-256 of the
// raw token, so raw tokens never leave the filter.
func ID(raw string, id *Identity) string {
	if id != nil && id.JTI != "" {
		return id.JTI
	}
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

type issuer struct {
	cfg    config.Issuer
	parser *jwt.Parser
	keys   []verificationKey
}

type verificationKey struct {
	kid string
	key any
	kty string
	crv string
}

// Verifier checks tokens against the policy's issuers.
type Verifier struct {
	issuers  []issuer
	opaque   string // name of the opaque issuer, if any
	names    config.Claims
	leeway   time.Duration
	now      func() time.Time
	maxBytes int
	cache    *cache
	refused  *cache // refused tokens, so a repeated bad token costs no crypto
}

// New builds a verifier. now is the clock; maxBytes bounds the token size
// worth looking at; cacheSize bounds the verified-token cache.
func New(id *config.Identity, now func() time.Time, maxBytes, cacheSize int) (*Verifier, error) {
	v := &Verifier{names: id.Claims, leeway: time.Duration(id.LeewaySeconds) * time.Second, now: now, maxBytes: maxBytes, cache: newCache(cacheSize), refused: newCache(max(cacheSize/4, 1))}
	for _, ic := range id.Issuers {
		if ic.Kind == config.KindOpaque {
			v.opaque = ic.Name
			continue
		}
		is := issuer{cfg: ic}
		for _, k := range ic.Keys {
			key, err := k.Parse()
			if err != nil {
				return nil, fmt.Errorf("issuer %s: %w", ic.Name, err)
			}
			is.keys = append(is.keys, verificationKey{kid: k.Kid, key: key, kty: k.Kty, crv: k.Crv})
		}
		opts := []jwt.ParserOption{
			jwt.WithValidMethods(ic.Algorithms),
			jwt.WithLeeway(v.leeway),
			jwt.WithTimeFunc(now),
			jwt.WithIssuedAt(),
		}
		if ic.Issuer != "" {
			opts = append(opts, jwt.WithIssuer(ic.Issuer))
		}
		if len(ic.Audiences) > 0 {
			opts = append(opts, jwt.WithAudience(ic.Audiences...))
		}
		if ic.RequireExp {
			opts = append(opts, jwt.WithExpirationRequired())
		}
		is.parser = jwt.NewParser(opts...)
		v.issuers = append(v.issuers, is)
	}
	return v, nil
}

// OpaqueIssuer names the policy's opaque issuer, or "".
func (v *Verifier) OpaqueIssuer() string { return v.opaque }

// Verify checks a raw token. A token that is not shaped like a JWT is
// ErrOpaque when the policy has an opaque issuer, else ErrInvalid.
func (v *Verifier) Verify(raw string) (*Identity, error) {
	if len(raw) > v.maxBytes {
		return nil, ErrInvalid
	}
	now := v.now()
	if id, _, ok := v.cache.get(raw, now); ok {
		return id, nil
	}
	if _, err, ok := v.refused.get(raw, now); ok {
		return nil, err
	}
	if strings.Count(raw, ".") != 2 {
		if v.opaque != "" && isOpaqueShape(raw) {
			return nil, ErrOpaque
		}
		return nil, ErrInvalid
	}
	expired, timely := false, true
	for i := range v.issuers {
		is := &v.issuers[i]
		c := &claims{names: &v.names}
		_, err := is.parser.ParseWithClaims(raw, c, is.keyFunc)
		if err != nil {
			if errors.Is(err, jwt.ErrTokenExpired) && !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
				expired = true
			}
			if errors.Is(err, jwt.ErrTokenNotValidYet) || errors.Is(err, jwt.ErrTokenUsedBeforeIssued) {
				timely = false // it may become valid: do not remember the refusal
			}
			continue
		}
		id := &Identity{Issuer: is.cfg.Name, Subject: c.subject, Level: c.level, Roles: c.roles, JTI: c.jti}
		until := now.Add(5 * time.Minute)
		if c.exp != nil {
			id.Expires = c.exp.Time
			until = c.exp.Add(v.leeway)
		}
		v.cache.put(raw, id, nil, until, now)
		return id, nil
	}
	err := ErrInvalid
	if expired {
		err = ErrExpired
	}
	if timely {
		v.refused.put(raw, nil, err, now.Add(refusalTTL), now)
	}
	return nil, err
}

// refusalTTL bounds how long a refused token is remembered.
const refusalTTL = time.Minute

// isOpaqueShape accepts what seed 002's getToken hands out and similar
// random tokens: 16 to 512 characters of [A-Za-z0-9_-].
func isOpaqueShape(s string) bool {
	if len(s) < 16 || len(s) > 512 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// keyFunc picks the issuer's keys for the token: by kid when the token
// names one, else every key that fits the (already pinned) algorithm. Keys
// carried by the token itself (jwk, jku, x5u, x5c) are never looked at, and
// a token that asks for critical extensions is refused (RFC 7515 4.1.11).
func (is *issuer) keyFunc(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errors.New("crit header not supported")
	}
	alg, _ := t.Header["alg"].(string)
	kid, hasKid := t.Header["kid"].(string)
	var set jwt.VerificationKeySet
	for _, k := range is.keys {
		if hasKid && k.kid != "" && k.kid != kid {
			continue
		}
		if !(config.Key{Kty: k.kty, Crv: k.crv}).Fits(alg) {
			continue
		}
		set.Keys = append(set.Keys, k.key)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("no key")
	}
	if len(set.Keys) == 1 {
		return set.Keys[0], nil
	}
	return set, nil
}

// claims decodes only what the filter needs: the registered claims and the
// three the policy maps. It is much cheaper than MapClaims inside wasm.
type claims struct {
	names         *config.Claims
	exp, nbf, iat *jwt.NumericDate
	iss, sub, jti string
	aud           jwt.ClaimStrings
	subject       string
	level         int
	roles         []string
}

func (c *claims) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	var err error
	date := func(name string) *jwt.NumericDate {
		raw, ok := m[name]
		if !ok || err != nil {
			return nil
		}
		var d jwt.NumericDate
		if e := json.Unmarshal(raw, &d); e != nil {
			err = fmt.Errorf("%s: %w", name, e)
			return nil
		}
		return &d
	}
	str := func(name string) string {
		raw, ok := m[name]
		if !ok || err != nil {
			return ""
		}
		var s string
		if e := json.Unmarshal(raw, &s); e != nil {
			err = fmt.Errorf("%s: not a string", name)
		}
		return s
	}
	c.exp, c.nbf, c.iat = date("exp"), date("nbf"), date("iat")
	c.iss, c.sub, c.jti = str("iss"), str("sub"), str("jti")
	if raw, ok := m["aud"]; ok && err == nil {
		if e := json.Unmarshal(raw, &c.aud); e != nil {
			err = errors.New("aud: not a string or list of strings")
		}
	}
	if err != nil {
		return err
	}
	if raw, ok := m[c.names.Subject]; ok {
		if c.subject, err = scalar(raw); err != nil {
			return fmt.Errorf("%s: %w", c.names.Subject, err)
		}
	}
	if raw, ok := m[c.names.Level]; ok {
		s, err := scalar(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", c.names.Level, err)
		}
		if c.level, err = strconv.Atoi(s); err != nil || c.level < 0 || c.level > 255 {
			return fmt.Errorf("%s: not a level from 0 to 255", c.names.Level)
		}
	}
	if raw, ok := m[c.names.Roles]; ok {
		var list []string
		if json.Unmarshal(raw, &list) != nil {
			s, err := scalar(raw)
			if err != nil {
				return fmt.Errorf("%s: not a list of strings", c.names.Roles)
			}
			list = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
		}
		c.roles = list
	}
	return nil
}

// scalar reads a JSON string or number as text (a phone number may come
// either way).
func scalar(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), nil
	}
	return "", errors.New("not a string or number")
}

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.exp, nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.iat, nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.nbf, nil }
func (c *claims) GetIssuer() (string, error)                   { return c.iss, nil }
func (c *claims) GetSubject() (string, error)                  { return c.sub, nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return c.aud, nil }
