package token

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/state"
	"github.com/keycard-gw/keycard/state/jsonscan"
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
	Expires time.Time // zero when the token has no exp

	// Claims are the naming claims (state.ReadClaims): the token's iss,
	// jti and iat name its state at the sidecar.
	Claims state.Claims

	// Scopes are the OAuth scopes the token grants (scope, scp).
	Scopes []string

	// Extra are the values of the other claims the policy reads (a
	// forwarded claim, a condition's), in the order Verifier.ReadAlso
	// numbered them, as claimText makes them; "" where the token has
	// none. ExtraList marks the ones that were lists in the token.
	Extra     []string
	ExtraList []bool

	name    state.Name // the token's name at the sidecar, computed once (StateName)
	nameKey string
	key     string // which key verified it (keyName), so a key set change can drop it
}

// StateName names the verified token raw at the sidecar for service
// (state.Name: its iss, subject, iat and state.JWTID's id) and returns
// the name's key. Both are computed once per cached identity, so a
// cached token's state lookup builds no string.
func (i *Identity) StateName(service, raw string) (state.Name, string) {
	if i.nameKey == "" {
		i.name = state.Name{Service: service, Kind: state.KindJWT, Issuer: i.Claims.Issuer, Subject: i.Subject,
			ID: state.JWTID(&i.Claims, raw), IssuedAt: i.Claims.IssuedAt}
		i.nameKey = i.name.Key()
	}
	return i.name, i.nameKey
}

type issuer struct {
	cfg       config.Issuer
	methods   map[string]jwt.SigningMethod // the pinned algorithms
	keys      []verificationKey            // pinned, then the sidecar's
	pinned    int                          // how many of keys are pinned
	loaded    bool                         // the sidecar's keys have arrived (always, without Remote)
	validator *jwt.Validator
	paths     [][]string // where its tokens carry the subject, level, roles and scopes (two paths), then the forwarded claims
}

type verificationKey struct {
	kid  string
	key  any
	spec config.Key
	name string // keyName(spec)
}

// newVerificationKey parses a key for the signing methods: an HMAC
// secret becomes an *hmacKey for keyedHMAC.
func newVerificationKey(k config.Key) (verificationKey, error) {
	key, err := k.Parse()
	if err != nil {
		return verificationKey{}, err
	}
	if secret, ok := key.([]byte); ok {
		key = newHMACKey(secret)
	}
	return verificationKey{kid: k.Kid, key: key, spec: k, name: keyName(k)}, nil
}

// keyName identifies a key by everything in it, so that a key set that
// arrives again names the keys it kept the same way.
func keyName(k config.Key) string {
	return strings.Join([]string{k.Kty, k.Kid, k.Crv, k.K, k.X, k.Y, k.N, k.E}, "|")
}

// NeedKeys is the verdict on a token whose issuer's keys the sidecar
// holds and that no key at hand verifies: the issuer has no key set yet
// (None), or the token names a kid the set lacks. Asking the sidecar
// again may help; until then the token is not known to be bad.
type NeedKeys struct {
	Issuer string
	Kid    string
	None   bool
}

func (e *NeedKeys) Error() string {
	if e.None {
		return "no keys of issuer " + e.Issuer + " yet"
	}
	return "issuer " + e.Issuer + " has no key " + strconv.Quote(e.Kid)
}

// Verifier checks tokens against the policy's issuers.
//
// golang-jwt does the cryptography (its signing methods) and the claim
// checks (its Validator: exp, nbf, iat with leeway, iss, aud, required
// exp). The token's three segments are split and read here, with strict
// base64 and a small JSON reader, because golang-jwt's Parser decodes the
// header into a map and the claims through a json.Decoder, which inside
// wasm costs several times the signature check.
type Verifier struct {
	issuers  []issuer
	opaque   string // name of the opaque issuer, if any
	names    config.Claims
	leeway   time.Duration
	now      func() time.Time
	maxBytes int
	cache    *cache
	refused  *cache // refused tokens, so a repeated bad token costs no crypto
	segments *jwt.Parser
	service  string   // the policy's name: a token whose state.ServiceClaim differs is refused
	extra    []string // the claim paths of Identity.Extra, as written
}

// New builds a verifier for the policy named service. now is the clock;
// maxBytes bounds the token size worth looking at; cacheSize bounds the
// verified-token cache.
func New(service string, id *config.Identity, now func() time.Time, maxBytes, cacheSize int) (*Verifier, error) {
	v := &Verifier{
		service: service, names: id.Claims, leeway: time.Duration(id.LeewaySeconds) * time.Second, now: now, maxBytes: maxBytes,
		cache: newCache(cacheSize), refused: newCache(max(cacheSize/4, 1)),
		segments: jwt.NewParser(jwt.WithStrictDecoding()),
	}
	for _, ic := range id.Issuers {
		if ic.Kind == config.KindOpaque {
			v.opaque = ic.Name
			continue
		}
		is := issuer{cfg: ic, methods: map[string]jwt.SigningMethod{}, loaded: ic.Remote == nil}
		for _, alg := range ic.Algorithms {
			alg = config.CanonicalAlgorithm(alg)
			m := jwt.GetSigningMethod(alg)
			if m == nil || alg == "none" {
				return nil, fmt.Errorf("issuer %s: algorithm %s is not available", ic.Name, alg)
			}
			if km, ok := keyedMethods[alg]; ok {
				m = km
			}
			is.methods[alg] = m
		}
		for _, k := range ic.Keys {
			vk, err := newVerificationKey(k)
			if err != nil {
				return nil, fmt.Errorf("issuer %s: %w", ic.Name, err)
			}
			is.keys = append(is.keys, vk)
		}
		is.pinned = len(is.keys)
		is.paths = make([][]string, firstForwarded, firstForwarded+len(id.Forward))
		names := id.Claims
		if o := ic.Claims; o != nil { // the subject is the policy's: the sidecar names tokens by it
			names.Level, names.Roles, names.Scopes = cmp.Or(o.Level, names.Level), cmp.Or(o.Roles, names.Roles), cmp.Or(o.Scopes, names.Scopes)
		}
		if names.Scopes == "" { // OAuth's scope, or Entra ID's and Okta's scp
			is.paths[3], is.paths[4] = []string{"scope"}, []string{"scp"}
		}
		for i, p := range []string{names.Subject, names.Level, names.Roles, names.Scopes} {
			if p == "" {
				continue // not read
			}
			var err error
			if is.paths[i], err = config.ParseClaimPath(p); err != nil {
				return nil, fmt.Errorf("issuer %s: %w", ic.Name, err)
			}
		}
		opts := []jwt.ParserOption{jwt.WithLeeway(v.leeway), jwt.WithTimeFunc(now), jwt.WithIssuedAt()}
		if ic.Issuer != "" && len(ic.Issuers) == 0 {
			opts = append(opts, jwt.WithIssuer(ic.Issuer))
		}
		if len(ic.Audiences) > 0 {
			opts = append(opts, jwt.WithAudience(ic.Audiences...))
		}
		if ic.RequireExp {
			opts = append(opts, jwt.WithExpirationRequired())
		}
		is.validator = jwt.NewValidator(opts...)
		v.issuers = append(v.issuers, is)
	}
	return v, nil
}

// Extra names the claim paths of Identity.Extra, in order.
func (v *Verifier) Extra() []string { return v.extra }

// ReadAlso has every token's claim at path read into Identity.Extra, and
// returns its index there; a path asked for twice has one index. It is
// for the engine to call before any Verify.
func (v *Verifier) ReadAlso(path string) (int, error) {
	for i, p := range v.extra {
		if p == path {
			return i, nil
		}
	}
	segs, err := config.ParseClaimPath(path)
	if err != nil {
		return 0, err
	}
	v.extra = append(v.extra, path)
	for i := range v.issuers {
		v.issuers[i].paths = append(v.issuers[i].paths, segs)
	}
	return len(v.extra) - 1, nil
}

// OpaqueIssuer names the policy's opaque issuer, or "".
func (v *Verifier) OpaqueIssuer() string { return v.opaque }

// refusalTTL bounds how long a refused token is remembered.
const refusalTTL = time.Minute

// Verify checks a raw token. A token that is not shaped like a JWT is
// ErrOpaque when the policy has an opaque issuer, else ErrInvalid.
func (v *Verifier) Verify(raw string) (*Identity, error) {
	if len(raw) > v.maxBytes {
		return nil, &TooLarge{Size: len(raw), Max: v.maxBytes}
	}
	now := v.now()
	if id, _, ok := v.cache.get(raw, now); ok {
		return id, nil
	}
	if _, err, ok := v.refused.get(raw, now); ok {
		return nil, err
	}
	id, until, err := v.verify(raw, now)
	switch {
	case err == nil:
		v.cache.put(raw, id, nil, until, now)
	case err == ErrInvalid || err == ErrExpired:
		v.refused.put(raw, nil, err, now.Add(refusalTTL), now)
	case err == errNotYet:
		err = ErrInvalid // it may become valid: not remembered
	}
	return id, err
}

// TooLarge refuses a token longer than options.max_token_bytes without
// reading it; the client is told invalid_token, the log which limit.
type TooLarge struct{ Size, Max int }

func (e *TooLarge) Error() string {
	return fmt.Sprintf("token is %d bytes, over options.max_token_bytes %d", e.Size, e.Max)
}

var errNotYet = errors.New("token not valid yet")

func (v *Verifier) verify(raw string, now time.Time) (*Identity, time.Time, error) {
	h, rest, ok1 := strings.Cut(raw, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s, '.') >= 0 {
		if v.opaque != "" && isOpaqueShape(raw) {
			return nil, time.Time{}, ErrOpaque
		}
		return nil, time.Time{}, ErrInvalid
	}
	hd, err := v.header(h)
	if err != nil {
		return nil, time.Time{}, ErrInvalid
	}
	signing := raw[:len(h)+1+len(p)]
	var sig, payload []byte
	var c *claims
	var need *NeedKeys
	refusal := ErrInvalid // the most telling refusal of the issuers tried
	for i := range v.issuers {
		is := &v.issuers[i]
		method, ok := is.methods[hd.alg]
		if !ok {
			continue // the algorithm is pinned per issuer, never taken from the token
		}
		if c == nil {
			// The claims are read before any signature is checked, only to
			// choose the issuers whose iss the token claims: nothing they
			// say is believed until one of those issuers' keys verifies it.
			if payload, err = v.segments.DecodeSegment(p); err != nil {
				return nil, time.Time{}, ErrInvalid
			}
			if c, err = v.decodeClaims(payload); err != nil {
				return nil, time.Time{}, ErrInvalid
			}
			if sig, err = v.segments.DecodeSegment(s); err != nil || len(sig) == 0 {
				return nil, time.Time{}, ErrInvalid
			}
		}
		// Issuers may share keys (Entra ID's v1 and v2 issuers publish one
		// set; two audiences of one provider are two issuers): the token's
		// iss selects among them, and every issuer it fits is tried.
		if !is.issuedBy(c.iss) || !is.typeFits(hd.typ) {
			continue
		}
		key := is.signedBy(method, hd.alg, hd.kid, hd.hasKid, signing, sig)
		if key == nil {
			if need == nil && is.cfg.Remote != nil {
				need = is.missing(hd.alg, hd.kid, hd.hasKid)
			}
			continue
		}
		if err := is.validator.Validate(c); err != nil {
			switch {
			case errors.Is(err, jwt.ErrTokenExpired):
				refusal = ErrExpired
			case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
				if refusal != ErrExpired {
					refusal = errNotYet
				}
			}
			continue
		}
		// The claims that name the token's state, read as the sidecar
		// reads them; a token the sidecar issued for another service is
		// not this policy's.
		// The subject is read once, with the identity claims, at the
		// same path the sidecar reads it (state.ReadClaims would read it
		// again in a pass of its own).
		names, err := state.ReadClaims(payload, nil)
		if err != nil || names.Service != "" && names.Service != v.service {
			return nil, time.Time{}, ErrInvalid
		}
		id := &Identity{Issuer: is.cfg.Name, key: key.name}
		if err := readIdentity(payload, is.paths, id); err != nil {
			return nil, time.Time{}, ErrInvalid
		}
		names.Subject = id.Subject
		id.Claims = names
		if l := is.cfg.LevelsFrom; l != nil {
			if err := deriveLevel(l, payload, id); err != nil {
				return nil, time.Time{}, ErrInvalid
			}
		}
		until := now.Add(5 * time.Minute)
		if c.exp != nil {
			id.Expires = c.exp.Time
			until = c.exp.Add(v.leeway)
		}
		return id, until, nil
	}
	if refusal != ErrInvalid {
		return nil, time.Time{}, refusal
	}
	if need != nil {
		return nil, time.Time{}, need
	}
	return nil, time.Time{}, ErrInvalid
}

// issuedBy reports whether a token whose iss is iss may be this
// issuer's: the issuer names none, names it, or lists it among the iss
// values of its allowed tenants.
func (is *issuer) issuedBy(iss string) bool {
	switch {
	case len(is.cfg.Issuers) > 0:
		return slices.Contains(is.cfg.Issuers, iss)
	case is.cfg.Issuer != "":
		return iss == is.cfg.Issuer
	}
	return true
}

// typeFits checks the token's typ header against the issuer's required
// type (RFC 9068 section 4: at+jwt, which may be written
// application/at+jwt; media types ignore case, RFC 7515 section 4.1.9).
func (is *issuer) typeFits(typ string) bool {
	want := is.cfg.TokenType
	if want == "" {
		return true
	}
	if len(typ) > len("application/") && strings.EqualFold(typ[:len("application/")], "application/") && !strings.Contains(want, "/") {
		typ = typ[len("application/"):]
	}
	return strings.EqualFold(typ, want)
}

// missing says whether a token this issuer's keys did not verify could
// be verified by keys the sidecar has not handed over: there are none
// yet, or the token names a kid the set lacks. The caller has checked
// that the token claims to be this issuer's (iss, unverified: the answer
// only chooses between two refusals and a fetch the filter rate-limits).
func (is *issuer) missing(alg, kid string, hasKid bool) *NeedKeys {
	if !is.loaded {
		return &NeedKeys{Issuer: is.cfg.Name, Kid: kid, None: true}
	}
	if !hasKid {
		return nil // every key that fits was tried
	}
	for _, k := range is.keys {
		if k.kid == kid && k.spec.Fits(alg) {
			return nil // the key is there and did not verify it
		}
	}
	return &NeedKeys{Issuer: is.cfg.Name, Kid: kid}
}

// SetRemoteKeys replaces the keys the sidecar holds for an issuer. Keys
// that fit none of the issuer's algorithms are left out. Verified tokens
// in the cache whose key left the set are forgotten, and so are
// remembered refusals, which a new key may overturn. It reports how many
// keys it took.
func (v *Verifier) SetRemoteKeys(name string, keys []config.Key) (int, error) {
	var is *issuer
	for i := range v.issuers {
		if v.issuers[i].cfg.Name == name && v.issuers[i].cfg.Remote != nil {
			is = &v.issuers[i]
		}
	}
	if is == nil {
		return 0, fmt.Errorf("no issuer %s with keys the sidecar holds", name)
	}
	fresh := append([]verificationKey(nil), is.keys[:is.pinned]...)
	kept := map[string]bool{}
	for _, k := range fresh {
		kept[k.name] = true
	}
	for _, k := range keys {
		fits := false
		for _, alg := range is.cfg.Algorithms {
			fits = fits || k.Fits(alg)
		}
		if !fits {
			continue
		}
		vk, err := newVerificationKey(k)
		if err != nil {
			continue
		}
		fresh = append(fresh, vk)
		kept[vk.name] = true
	}
	is.keys, is.loaded = fresh, true
	for k, e := range v.cache.entries {
		if e.id != nil && e.id.Issuer == name && !kept[e.id.key] {
			delete(v.cache.entries, k)
		}
	}
	clear(v.refused.entries)
	return len(fresh) - is.pinned, nil
}

// jwsHeader is what the filter reads of a token's header.
type jwsHeader struct {
	alg, kid, typ string
	hasKid        bool
}

// header reads alg, kid and typ. A token that asks for critical
// extensions (crit) or an unencoded payload (b64) is refused (RFC 7515
// 4.1.11, RFC 7797). Keys the token carries (jwk, jku, x5u, x5c) are
// never looked at. Ed25519 (RFC 9864) reads as EdDSA: for the only curve
// supported they are one algorithm.
func (v *Verifier) header(seg string) (jwsHeader, error) {
	var h jwsHeader
	data, err := v.segments.DecodeSegment(seg)
	if err != nil {
		return h, err
	}
	hasTyp := false
	err = jsonscan.Object(data, func(key, raw []byte) error {
		var err error
		switch string(key) {
		case "alg":
			if h.alg != "" {
				return jsonscan.ErrJSON
			}
			h.alg, err = jsonscan.String(raw)
		case "kid":
			if h.hasKid {
				return jsonscan.ErrJSON
			}
			h.hasKid = true
			h.kid, err = jsonscan.String(raw)
		case "typ":
			if hasTyp {
				return jsonscan.ErrJSON
			}
			hasTyp = true
			h.typ, err = jsonscan.String(raw)
		case "crit", "b64":
			return errors.New("unsupported header " + string(key))
		}
		return err
	})
	if err == nil && h.alg == "" {
		err = errors.New("no alg")
	}
	h.alg = config.CanonicalAlgorithm(h.alg)
	return h, err
}

// signedBy tries the issuer's keys: by kid when the token names one (a key
// without kid is tried too), and only keys that fit the algorithm. It
// returns the key that verified the signature, or nil.
func (is *issuer) signedBy(m jwt.SigningMethod, alg, kid string, hasKid bool, signing string, sig []byte) *verificationKey {
	for i := range is.keys {
		k := &is.keys[i]
		if hasKid && k.kid != "" && k.kid != kid {
			continue
		}
		if !k.spec.Fits(alg) {
			continue
		}
		if m.Verify(signing, sig, k.key) == nil {
			return k
		}
	}
	return nil
}

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

// claims is what the filter reads of a payload: the registered claims
// golang-jwt's Validator checks, and the three the policy maps.
type claims struct {
	exp, nbf, iat *jwt.NumericDate // nil when absent, else pointing into dates
	dates         [3]jwt.NumericDate
	iss, sub      string
	aud           jwt.ClaimStrings
}

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.exp, nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.iat, nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.nbf, nil }
func (c *claims) GetIssuer() (string, error)                   { return c.iss, nil }
func (c *claims) GetSubject() (string, error)                  { return c.sub, nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return c.aud, nil }

// decodeClaims reads the payload in one pass. A claim given twice, or of
// the wrong type, makes the token invalid.
func (v *Verifier) decodeClaims(payload []byte) (*claims, error) {
	c := &claims{}
	var seen uint16 // one bit per claim read, to refuse duplicates
	err := jsonscan.Object(payload, func(key, raw []byte) error {
		var bit uint16
		switch string(key) {
		case "exp":
			bit = 1 << 0
		case "nbf":
			bit = 1 << 1
		case "iat":
			bit = 1 << 2
		case "iss":
			bit = 1 << 3
		case "sub":
			bit = 1 << 4
		case "aud":
			bit = 1 << 6
		}
		if bit == 0 {
			return nil
		}
		if seen&bit != 0 {
			return errors.New("claim " + string(key) + " given twice")
		}
		seen |= bit
		var err error
		switch string(key) {
		case "exp":
			c.exp, err = numericDate(raw, &c.dates[0])
		case "nbf":
			c.nbf, err = numericDate(raw, &c.dates[1])
		case "iat":
			c.iat, err = numericDate(raw, &c.dates[2])
		case "iss":
			c.iss, err = jsonscan.String(raw)
		case "sub":
			c.sub, err = jsonscan.StringOrNumber(raw)
		case "aud":
			if raw[0] == '[' {
				var list []string
				list, err = jsonscan.Strings(raw)
				c.aud = list
			} else {
				var s string
				s, err = jsonscan.String(raw)
				c.aud = jwt.ClaimStrings{s}
			}
		}
		if err != nil {
			return fmt.Errorf("claim %s: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// firstForwarded is the index of the first forwarded claim's path in an
// issuer's paths: after the subject, the level, the roles and two for
// the scopes.
const firstForwarded = 5

// readIdentity reads what a verified token says of its bearer, at the
// issuer's claim paths (subject, level, roles): a subject is a string or
// a number; a level an exact integer from 0 to 255; roles a list of
// strings or one string of names separated by spaces or commas, as
// providers grant scopes. A path given twice or a value of another type
// makes the token invalid; a missing one leaves the field empty.
func readIdentity(payload []byte, paths [][]string, id *Identity) error {
	if len(paths) > firstForwarded {
		id.Extra = make([]string, len(paths)-firstForwarded)
		id.ExtraList = make([]bool, len(paths)-firstForwarded)
	}
	return jsonscan.Paths(payload, paths, func(i int, raw []byte) error {
		var err error
		switch i {
		case 0:
			id.Subject, err = jsonscan.StringOrNumber(raw)
		case 1:
			var ok bool
			if id.Level, ok = parseLevel(raw); !ok {
				err = errors.New("not a level from 0 to 255")
			}
		case 2:
			if raw[0] == '[' {
				id.Roles, err = jsonscan.Strings(raw)
			} else {
				var s string
				s, err = jsonscan.String(raw)
				id.Roles = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
			}
		case 3, 4:
			var list []string
			if raw[0] == '[' {
				list, err = jsonscan.Strings(raw)
			} else {
				var s string
				s, err = jsonscan.String(raw)
				list = strings.Fields(s)
			}
			id.Scopes = append(id.Scopes, list...)
		default:
			id.Extra[i-firstForwarded] = claimText(raw)
			id.ExtraList[i-firstForwarded] = raw[0] == '['
		}
		return err
	})
}

// deriveLevel raises a verified token's level to the highest its roles,
// scopes or acr map to (config.LevelsFrom).
func deriveLevel(l *config.LevelsFrom, payload []byte, id *Identity) error {
	values := id.Roles
	switch l.Source {
	case config.LevelsFromScopes:
		values = id.Scopes
	case config.LevelsFromACR:
		values = nil
		err := jsonscan.Paths(payload, [][]string{{"acr"}}, func(_ int, raw []byte) error {
			s, err := jsonscan.String(raw)
			values = []string{s}
			return err
		})
		if err != nil {
			return err
		}
	}
	for _, v := range values {
		if lv, ok := l.Values[v]; ok && lv > id.Level {
			id.Level = lv
		}
	}
	return nil
}

// claimText is a forwarded claim's value as a header carries it: a
// string as it is, a number or a boolean as written, a list of strings
// joined with commas (leaving out any that holds a comma, as the roles
// header does); "" for anything else (an object, null, a list of other
// values), which is not forwarded.
func claimText(raw []byte) string {
	switch raw[0] {
	case '"':
		s, _ := jsonscan.String(raw)
		return s
	case '[':
		list, err := jsonscan.Strings(raw)
		if err != nil {
			return ""
		}
		kept := list[:0]
		for _, s := range list {
			if s != "" && !strings.Contains(s, ",") {
				kept = append(kept, s)
			}
		}
		return strings.Join(kept, ",")
	case 't', 'f':
		return string(raw)
	case '{', 'n':
		return ""
	}
	return string(raw) // a number, as the token wrote it
}

// numericDate reads a NumericDate into d: seconds since the epoch,
// possibly fractional (RFC 7519 2). It returns d, or nil for null.
func numericDate(raw []byte, d *jwt.NumericDate) (*jwt.NumericDate, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return nil, errors.New("not a number")
	}
	// The usual form, plain seconds, without strconv (whose error would
	// keep a copy of the text).
	if len(raw) <= 12 && raw[0] != '0' || len(raw) == 1 {
		n := int64(0)
		digits := true
		for _, c := range raw {
			if c < '0' || c > '9' {
				digits = false
				break
			}
			n = n*10 + int64(c-'0')
		}
		if digits {
			d.Time = time.Unix(n, 0).Truncate(jwt.TimePrecision)
			return d, nil
		}
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) || math.Abs(f) > 1<<40 {
		return nil, errors.New("not a time")
	}
	sec, frac := math.Modf(f)
	*d = *jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9)))
	return d, nil
}

// parseLevel reads a level claim one way: a JSON number that is exactly
// an integer from 0 to 255 in any of JSON's forms (2, 2.0, 2e0, 20e-1),
// or a string of decimal digits without sign or leading zeros ("2", not
// "+2", "02" or " 2").
func parseLevel(raw []byte) (int, bool) {
	if raw[0] == '"' {
		s, err := jsonscan.String(raw)
		if err != nil || s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
			return 0, false
		}
		n := 0
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			n = n*10 + int(s[i]-'0')
		}
		return n, n <= config.MaxLevel
	}
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return 0, false
	}
	if n, err := strconv.Atoi(string(raw)); err == nil { // the usual form, without big numbers
		return n, 0 <= n && n <= config.MaxLevel
	}
	// Other forms go through big.Rat, exactly, but only with a small
	// exponent: 2e999999999 would make a huge exact value.
	mant, exp, hasExp := strings.Cut(strings.ToLower(string(raw)), "e")
	if len(raw) > 64 || hasExp && (len(exp) > 4 || strings.Trim(mant, "-0.") != "" && len(strings.TrimLeft(exp, "+-0")) > 2) {
		return 0, strings.Trim(mant, "-0.") == "" && len(raw) <= 64 // zero in any form is 0
	}
	r, ok := new(big.Rat).SetString(string(raw))
	if !ok || !r.IsInt() || r.Sign() < 0 || r.Num().Cmp(big.NewInt(config.MaxLevel)) > 0 {
		return 0, false
	}
	return int(r.Num().Int64()), true
}
