package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/keycard-gw/keycard/table"
)

// Version is the configuration format version this build reads and writes.
const Version = 1

// Config is the filter configuration.
type Config struct {
	Version  int      `json:"version"`
	Policy   string   `json:"policy"`
	Gateway  string   `json:"gateway"` // GatewayKong or GatewayEnvoy: where the request's host and path are read
	Table    []byte   `json:"table"`   // encoded decision table, base64 in JSON
	Identity Identity `json:"identity"`
	Levels   []Level  `json:"levels,omitempty"`
	Sessions Sessions `json:"sessions"`
	Sidecar  Sidecar  `json:"sidecar"`
	Options  Options  `json:"options"`

	// Shadow mode: denials are logged and counted and the request let
	// through. Routes carry it in the table (table.FlagShadow); requests
	// no route matches follow their service (ShadowServices) and, when
	// no service matches, the policy (Shadow).
	Shadow         bool     `json:"shadow,omitempty"`
	ShadowServices []string `json:"shadow_services,omitempty"`

	// CORS are the cross-origin rules (CORS): answered preflights and
	// the CORS headers of cross-origin responses.
	CORS []CORS `json:"cors,omitempty"`

	// Scopes are the OAuth scopes routes need (Scopes), by the route's
	// line, as the table's rules carry it.
	Scopes []Scopes `json:"scopes,omitempty"`

	// Conditions are claim conditions (Condition) of services and routes.
	Conditions []Condition `json:"conditions,omitempty"`
}

// Condition is one claim condition of a service (Line 0) or a route: the
// token's claim at path Claim equals one of OneOf, contains Contains (a
// list of strings), or equals the request path's segment Segment (a
// route parameter, Param, counted from 0 after the service's prefix).
type Condition struct {
	Service  string   `json:"service"`
	Line     int      `json:"line,omitempty"`
	Route    string   `json:"route,omitempty"` // the route as written, to name it
	Claim    string   `json:"claim"`
	OneOf    []string `json:"one_of,omitempty"`
	Contains string   `json:"contains,omitempty"`
	Param    string   `json:"param,omitempty"`
	Segment  int      `json:"segment,omitempty"`
}

// String names the condition for the log and keycard diff, never with
// the claim's value a request had.
func (c Condition) String() string {
	switch {
	case c.Param != "":
		return c.Claim + " is {" + c.Param + "}"
	case c.Contains != "":
		return c.Claim + " contains " + strconv.Quote(c.Contains)
	case len(c.OneOf) == 1:
		return c.Claim + " is " + strconv.Quote(c.OneOf[0])
	}
	q := make([]string, len(c.OneOf))
	for i, v := range c.OneOf {
		q[i] = strconv.Quote(v)
	}
	return c.Claim + " is one of " + strings.Join(q, ", ")
}

// Scopes is what one route, or one role permission, needs of a token's
// scopes: every one of All, and one of Any when Any is given. A route's
// names its service; a role permission's names its role instead (and
// no service), and Route is the permission as written.
type Scopes struct {
	Service string   `json:"service"`
	Role    string   `json:"role,omitempty"`
	Line    int      `json:"line"`
	Route   string   `json:"route,omitempty"` // the route as written, to name it (keycard diff)
	All     []string `json:"all,omitempty"`
	Any     []string `json:"any,omitempty"`
}

// ValidScope accepts a scope name as providers write them
// (orders:read, https://api.example/orders.write): printable ASCII
// without spaces, quotes or backslashes (RFC 6749 section 3.3), at most
// 128 bytes.
func ValidScope(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Identity says where tokens come from, who may issue them and what of
// their claims is forwarded.
type Identity struct {
	Token         []TokenSource `json:"token"`
	Issuers       []Issuer      `json:"issuers"`
	LeewaySeconds int           `json:"leeway_seconds"`
	Claims        Claims        `json:"claims"`
	Forward       []Forward     `json:"forward,omitempty"`
}

// TokenSource is one place a token is read from: a header (with an
// optional scheme such as "Bearer") or a cookie.
type TokenSource struct {
	Header string `json:"header,omitempty"`
	Scheme string `json:"scheme,omitempty"`
	Cookie string `json:"cookie,omitempty"`
}

// Gateways. The proxy-wasm hosts present a request differently, and the
// filter must not guess which one it runs in (nothing a client sends may
// choose the rule):
//
//   - Kong (ngx_wasm_module): ":authority" is nginx's server_name and
//     port, not the client's; the client's host is the Host header.
//     ":path" is nginx's decoded, normalised URI; the request target as
//     the client sent it (and as proxy_pass forwards it) is the property
//     request.path ($request_uri).
//   - Envoy: ":authority" is the client's host; ":path" is the request
//     target as received (normalised only if the operator configured it).
const (
	GatewayKong  = "kong"
	GatewayEnvoy = "envoy"
)

// Issuer kinds.
const (
	KindJWT    = "jwt"
	KindOpaque = "opaque"
)

// Issuer is one token issuer with its pinned algorithms and keys.
type Issuer struct {
	Name       string      `json:"name"`
	Kind       string      `json:"kind"`
	Issuer     string      `json:"issuer,omitempty"`
	Issuers    []string    `json:"issuers,omitempty"` // the iss values it accepts instead of Issuer: a tenant template's, one per allowed tenant
	Audiences  []string    `json:"audiences,omitempty"`
	Algorithms []string    `json:"algorithms,omitempty"`
	RequireExp bool        `json:"require_exp"`
	TokenType  string      `json:"token_type,omitempty"`  // the typ a token must carry (at+jwt: RFC 9068 access tokens only), or any
	Claims     *Claims     `json:"claims,omitempty"`      // this issuer's own claim paths, where they differ from identity.claims
	LevelsFrom *LevelsFrom `json:"levels_from,omitempty"` // a level derived from roles, scopes or acr
	Keys       []Key       `json:"keys,omitempty"`        // pinned at compile time
	Remote     *Remote     `json:"remote,omitempty"`
}

// Remote names the keys of an issuer that the sidecar holds instead of
// the configuration: a JWKS it fetches (from a URL, or from an OpenID
// provider's discovery document) and a run-time HMAC secret it was given.
// The filter asks the sidecar for them at start, every PollMillis, and
// when a token names a kid it does not know, at most once per
// MinIntervalMillis.
type Remote struct {
	JWKSURL           string `json:"jwks_url,omitempty"`
	OIDCIssuer        string `json:"oidc_issuer,omitempty"`     // discovery: OIDCIssuer + /.well-known/openid-configuration
	Secret            string `json:"secret,omitempty"`          // name of a secret the sidecar holds
	SecretEncoding    string `json:"secret_encoding,omitempty"` // how it is written (DecodeSecret): raw bytes, base64 or jwk
	RefreshMillis     int    `json:"refresh_ms"`                // the longest a fetched set is kept without asking again
	MinIntervalMillis int    `json:"min_interval_ms"`           // the shortest time between two fetches
	TimeoutMillis     int    `json:"timeout_ms"`                // one fetch, discovery included
	AllowHTTP         bool   `json:"allow_http,omitempty"`      // plain http URLs, for tests on loopback
}

// Defaults and bounds of the remote key settings.
const (
	DefaultRefreshMillis     = 10 * 60 * 1000
	DefaultMinIntervalMillis = 30 * 1000
	DefaultKeyTimeoutMillis  = 5 * 1000
	MaxRefreshMillis         = 24 * 60 * 60 * 1000
	maxPollMillis            = 60 * 1000
)

// URL is where the remote key set comes from: the JWKS URL or the
// issuer's discovery document; "" for a run-time secret alone.
func (r *Remote) URL() string {
	if r.OIDCIssuer != "" {
		return strings.TrimSuffix(r.OIDCIssuer, "/") + "/.well-known/openid-configuration"
	}
	return r.JWKSURL
}

// Fits reports whether keys from this source can verify alg: a fetched
// set holds public keys, a run-time secret is an HMAC key.
func (r *Remote) Fits(alg string) bool {
	if KeyTypeFor(alg) == "oct" {
		return r.Secret != ""
	}
	return KeyTypeFor(alg) != "" && r.URL() != ""
}

// SecretEnv is the environment variable the sidecar reads a run-time
// secret from when no --secret-file names it.
func SecretEnv(name string) string { return "KEYCARD_SECRET_" + strings.ToUpper(name) }

// PollMillis is how often the filter asks the sidecar for the set: the
// refresh interval, but at least once a minute, so that a key the
// provider retired stops working soon after the sidecar sees it go.
func (r *Remote) PollMillis() int { return min(r.RefreshMillis, maxPollMillis) }

func (r *Remote) validate() error {
	if r.JWKSURL != "" && r.OIDCIssuer != "" {
		return errors.New("remote: jwks_url and oidc_issuer exclude each other")
	}
	if r.URL() == "" && r.Secret == "" {
		return errors.New("remote: no jwks_url, oidc_issuer or secret")
	}
	if u := r.URL(); u != "" {
		if err := CheckKeyURL(u, r.AllowHTTP); err != nil {
			return fmt.Errorf("remote: %w", err)
		}
	}
	if r.Secret != "" && !ValidSecretName(r.Secret) {
		return fmt.Errorf("remote: secret name %q: letters, digits and _ only", r.Secret)
	}
	if r.SecretEncoding != SecretRaw && r.SecretEncoding != SecretBase64 && r.SecretEncoding != SecretJWK {
		return fmt.Errorf("remote: secret_encoding %q is not base64 or jwk", r.SecretEncoding)
	}
	if r.MinIntervalMillis <= 0 || r.RefreshMillis < r.MinIntervalMillis || r.RefreshMillis > MaxRefreshMillis {
		return fmt.Errorf("remote: refresh_ms %d and min_interval_ms %d: need 0 < min_interval_ms <= refresh_ms <= %d", r.RefreshMillis, r.MinIntervalMillis, MaxRefreshMillis)
	}
	if r.TimeoutMillis <= 0 || r.TimeoutMillis > 60000 {
		return fmt.Errorf("remote: timeout_ms %d not in 1..60000", r.TimeoutMillis)
	}
	return nil
}

// CheckKeyURL accepts an https URL with a host, or an http one when
// allowHTTP says the policy is a test's.
func CheckKeyURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", raw)
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("%q has no host", raw)
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	case u.Scheme == "http":
		return fmt.Errorf("%q is not https: keys fetched in the clear can be replaced on the way (allow_http: true is for tests)", raw)
	default:
		return fmt.Errorf("%q is not an https URL", raw)
	}
	if u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q: no user info or fragment in a key URL", raw)
	}
	return nil
}

// ValidSecretName accepts a run-time secret's name: 1 to 64 letters,
// digits and _, so that it maps to an environment variable
// (KEYCARD_SECRET_NAME) as it is.
func ValidSecretName(s string) bool { return len(s) <= 64 && IsIdentifier(s) }

// IsIdentifier reports whether s is one or more ASCII letters, digits
// and _: a secret's name, a path parameter's.
func IsIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Key is a verification key in JWK terms: "oct" holds an HMAC secret in K;
// "EC" holds Crv, X, Y; "RSA" holds N, E; "OKP" (Ed25519) holds X. Byte
// fields are base64url without padding, as in RFC 7517.
type Key struct {
	Kid string `json:"kid,omitempty"`
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	K   string `json:"k,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// LevelsFrom derives a token's level from what its provider sends: its
// roles, its scopes or its acr (the authentication context class), each
// value mapped to a level. The token's level is the highest of its level
// claim and the levels its values map to.
type LevelsFrom struct {
	Source string         `json:"source"` // LevelsFromRoles, LevelsFromScopes or LevelsFromACR
	Values map[string]int `json:"values"`
}

// LevelsFrom sources.
const (
	LevelsFromRoles  = "roles"
	LevelsFromScopes = "scopes"
	LevelsFromACR    = "acr"
)

// Claims names the claims that carry the subject, the level and the roles.
type Claims struct {
	Subject string `json:"subject"`
	Level   string `json:"level"`
	Roles   string `json:"roles"`
	Scopes  string `json:"scopes,omitempty"` // "": scope and scp, whichever the token has
}

// Forward sets header Header from identity field Field (subject, level,
// roles, issuer) on allowed requests, or, when Field is FieldClaim, from
// the token's claim at path Claim (ParseClaimPath).
type Forward struct {
	Header string `json:"header"`
	Field  string `json:"field"`
	Claim  string `json:"claim,omitempty"`
}

// FieldClaim forwards a claim of the token (Forward.Claim).
const FieldClaim = "claim"

// Level is one named access level.
type Level struct {
	Name  string `json:"name"`
	Value int    `json:"value"`
}

// Session states.
const (
	StateNone    = "none"
	StateSidecar = "sidecar"
)

// Sessions says whether token state is asked of the sidecar.
type Sessions struct {
	State        string `json:"state"`
	CacheMillis  int    `json:"cache_ms"`
	OnErrorAllow bool   `json:"on_error_allow"`
}

// Sidecar is where the filter's call-out goes: an Envoy cluster name or,
// for Kong, host:port.
type Sidecar struct {
	Upstream      string `json:"upstream,omitempty"`
	Authority     string `json:"authority,omitempty"`
	TimeoutMillis int    `json:"timeout_ms,omitempty"`
	Key           string `json:"key,omitempty"` // the gateway key the sidecar requires on /v1/state
}

// Options are deployment switches.
type Options struct {
	Preflight        bool     `json:"preflight"`               // OPTIONS with Origin and Access-Control-Request-Method passes
	AllowEncodedPath bool     `json:"allow_encoded_path"`      // accept %2F and %5C inside a segment
	LenientPaths     bool     `json:"lenient_paths,omitempty"` // read ambiguous targets one way instead of refusing them
	PassHeaders      []string `json:"pass_headers,omitempty"`  // override headers (OverrideHeaders) an upstream needs, lower case
	ShadowHeader     string   `json:"shadow_header,omitempty"` // tells the upstream the would-be decision of a shadowed denial
	Metrics          bool     `json:"metrics"`                 // counters through proxy_define_metric (Kong before 3.8 traps on them)
	MaxTokenBytes    int      `json:"max_token_bytes"`
	TokenCacheSize   int      `json:"token_cache_size"`
}

// OverrideHeaders are request headers that some frameworks take as the
// request's real path, prefix or method (X-Original-URL in IIS and
// Symfony, X-HTTP-Method-Override in many): a client could reach a
// protected resource with a request the filter allowed for another.
// The filter strips them unless options.pass_headers names them.
// KongSets marks the ones Kong's proxy location sets itself
// (proxy_set_header in kong/templates/nginx_kong.lua), so a client's
// copy never reaches the upstream there.
var OverrideHeaders = []struct {
	Name     string
	KongSets bool
}{
	{"x-original-url", false},
	{"x-original-uri", false},
	{"x-rewrite-url", false},
	{"x-forwarded-uri", false},
	{"x-forwarded-path", true},
	{"x-forwarded-prefix", true},
	{"x-http-method-override", false},
	{"x-http-method", false},
	{"x-method-override", false},
}

// MinSecretBytes is the shortest HMAC secret accepted for alg: the hash
// size (RFC 7518 section 3.2); 0 for other algorithms.
func MinSecretBytes(alg string) int { return minSecret[alg] }

var minSecret = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// MaxLevel is the highest access level: levels are 0 to 255 everywhere
// (the policy's levels, the token's claim, the CLI's flags).
const MaxLevel = 255

// Bounds of options.max_token_bytes: below 1 KiB no real token fits;
// above 64 KiB no gateway passes the header (Envoy's default is 60 KiB).
const (
	MinMaxTokenBytes = 1024
	MaxMaxTokenBytes = 65536
)

// Defaults for zero-valued options.
const (
	DefaultMaxTokenBytes  = 16384 // Entra ID tokens with 150-200 group ids are 8-11 KB
	DefaultTokenCacheSize = 4096
	DefaultTimeoutMillis  = 200
)

// Forwardable identity fields.
var Fields = []string{"subject", "level", "roles", "issuer"}

// Decode parses and validates a configuration. Unknown fields are errors:
// a typo in a hand-edited configuration must not be silently ignored.
func Decode(data []byte) (*Config, *table.Table, error) {
	c, err := decodeFast(data)
	if err != nil {
		// The plain path gives the error, positioned in the data as given.
		c, err = decodeJSON(data)
	}
	if err != nil {
		return nil, nil, err
	}
	tb, err := c.Validate()
	if err != nil {
		return nil, nil, err
	}
	// Only a deployed filter needs to know its gateway (native decisions
	// are told the host directly), and it must not guess it.
	if c.Gateway != GatewayKong && c.Gateway != GatewayEnvoy {
		return nil, nil, fmt.Errorf("config: gateway %q is not kong or envoy (keycard render sets it; keycard compile takes --gateway)", c.Gateway)
	}
	return c, tb, nil
}

// decodeFast decodes a configuration whose table splitTable can lift
// out; any other configuration, or any error, is left to decodeJSON.
func decodeFast(data []byte) (*Config, error) {
	rest, tableText, ok := splitTable(data)
	if !ok {
		return nil, errNotFast
	}
	c, err := decodeJSON(rest)
	if err != nil {
		return nil, err
	}
	if c.Table, err = decodeTableField(tableText); err != nil {
		return nil, err
	}
	return c, nil
}

var errNotFast = errors.New("config: not split")

func decodeJSON(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if dec.More() {
		return nil, errors.New("config: data after the JSON object")
	}
	return &c, nil
}

// Validate checks the configuration and decodes its table. It accepts an
// empty Gateway (a compiled policy not yet meant for a gateway); Decode,
// the filter's entry point, does not.
func (c *Config) Validate() (*table.Table, error) {
	if c.Version != Version {
		return nil, fmt.Errorf("config: version %d, this build reads %d", c.Version, Version)
	}
	tb, err := table.Decode(c.Table)
	if err != nil {
		return nil, fmt.Errorf("config: table: %w", err)
	}
	id := &c.Identity
	if len(id.Token) == 0 {
		return nil, errors.New("config: identity.token: no token source")
	}
	for i, s := range id.Token {
		if (s.Header == "") == (s.Cookie == "") {
			return nil, fmt.Errorf("config: identity.token[%d]: exactly one of header and cookie", i)
		}
		if s.Header != "" && !IsToken(s.Header) {
			return nil, fmt.Errorf("config: identity.token[%d]: bad header name %q", i, s.Header)
		}
		if s.Scheme != "" && !IsToken(s.Scheme) {
			return nil, fmt.Errorf("config: identity.token[%d]: bad scheme %q", i, s.Scheme)
		}
	}
	if len(id.Issuers) == 0 {
		return nil, errors.New("config: identity.issuers: no issuer")
	}
	for i, is := range id.Issuers {
		if err := is.validate(); err != nil {
			return nil, fmt.Errorf("config: identity.issuers[%d] (%s): %w", i, is.Name, err)
		}
	}
	for _, cd := range c.Conditions {
		if _, err := ParseClaimPath(cd.Claim); err != nil {
			return nil, fmt.Errorf("config: condition of %s: %w", cd.Service, err)
		}
		kinds := 0
		for _, set := range []bool{len(cd.OneOf) > 0, cd.Contains != "", cd.Param != ""} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			return nil, fmt.Errorf("config: condition of %s on %s: one of one_of, contains or param", cd.Service, cd.Claim)
		}
	}
	for _, s := range c.Scopes {
		if (s.Service == "") == (s.Role == "") {
			return nil, fmt.Errorf("config: scopes at line %d: name a service or a role, one of the two", s.Line)
		}
		for _, n := range append(append([]string(nil), s.All...), s.Any...) {
			if !ValidScope(n) {
				return nil, fmt.Errorf("config: scopes of %s line %d: %q is not a scope name", s.Service, s.Line, n)
			}
		}
	}
	for _, p := range []string{id.Claims.Subject, id.Claims.Level, id.Claims.Roles, id.Claims.Scopes} {
		if p == "" {
			continue
		}
		if _, err := ParseClaimPath(p); err != nil {
			return nil, fmt.Errorf("config: identity.claims: %w", err)
		}
	}
	if id.LeewaySeconds < 0 || id.LeewaySeconds > 3600 {
		return nil, fmt.Errorf("config: identity.leeway_seconds %d not in 0..3600", id.LeewaySeconds)
	}
	if id.Claims.Subject == "" || id.Claims.Level == "" || id.Claims.Roles == "" {
		return nil, errors.New("config: identity.claims: subject, level and roles must be named")
	}
	for i, f := range id.Forward {
		if !IsToken(f.Header) || strings.HasPrefix(f.Header, ":") {
			return nil, fmt.Errorf("config: identity.forward[%d]: bad header name %q", i, f.Header)
		}
		switch {
		case f.Field == FieldClaim:
			if _, err := ParseClaimPath(f.Claim); err != nil {
				return nil, fmt.Errorf("config: identity.forward[%d]: %w", i, err)
			}
		case !contains(Fields, f.Field) || f.Claim != "":
			return nil, fmt.Errorf("config: identity.forward[%d]: unknown field %q", i, f.Field)
		}
	}
	switch c.Sessions.State {
	case StateNone, StateSidecar:
	default:
		return nil, fmt.Errorf("config: sessions.state %q is not none or sidecar", c.Sessions.State)
	}
	if c.Sessions.CacheMillis < 0 {
		return nil, errors.New("config: sessions.cache_ms is negative")
	}
	if c.NeedsSidecar() && c.Sidecar.Upstream == "" {
		return nil, errors.New("config: sidecar.upstream: required when token state is asked of the sidecar")
	}
	if m := c.Options.MaxTokenBytes; m != 0 && (m < MinMaxTokenBytes || m > MaxMaxTokenBytes) {
		return nil, fmt.Errorf("config: options.max_token_bytes %d not in %d..%d", m, MinMaxTokenBytes, MaxMaxTokenBytes)
	}
	if c.Sidecar.TimeoutMillis < 0 || c.Options.TokenCacheSize < 0 {
		return nil, errors.New("config: negative timeout or cache size")
	}
	for _, h := range c.Options.PassHeaders {
		if !IsOverrideHeader(h) && h != MethodOverrideParam {
			return nil, fmt.Errorf("config: options.pass_headers: %q is not a header the filter strips", h)
		}
	}
	seen := map[[2]any]bool{}
	for i := range c.CORS {
		r := &c.CORS[i]
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("config: cors[%d]: %w", i, err)
		}
		k := [2]any{r.Service, r.Line}
		if seen[k] {
			return nil, fmt.Errorf("config: cors[%d]: a second rule for service %q line %d", i, r.Service, r.Line)
		}
		seen[k] = true
	}
	return tb, nil
}

// MinKeyBytes is the shortest admin or gateway key the sidecar takes.
const MinKeyBytes = 16

// MethodOverrideParam is the query parameter frameworks read as the
// request's method (Rails, Laravel, Symfony): the filter refuses a
// request that has it unless options.pass_headers names it.
const MethodOverrideParam = "_method"

// IsOverrideHeader reports whether name (lower case) is one of
// OverrideHeaders.
func IsOverrideHeader(name string) bool {
	for _, o := range OverrideHeaders {
		if o.Name == name {
			return true
		}
	}
	return false
}

// NeedsSidecar reports whether any request may need the sidecar: session
// state is on, an issuer hands out opaque tokens, or the sidecar holds an
// issuer's keys.
func (c *Config) NeedsSidecar() bool {
	if c.Sessions.State == StateSidecar || c.HoldsRemoteKeys() {
		return true
	}
	for _, is := range c.Identity.Issuers {
		if is.Kind == KindOpaque {
			return true
		}
	}
	return false
}

// HoldsRemoteKeys reports whether the sidecar holds keys of an issuer
// (Remote): it must then be started with the policy.
func (c *Config) HoldsRemoteKeys() bool {
	for _, is := range c.Identity.Issuers {
		if is.Remote != nil {
			return true
		}
	}
	return false
}

// Algorithm families and the key types they need.
var algKty = map[string]string{
	"HS256": "oct", "HS384": "oct", "HS512": "oct",
	"RS256": "RSA", "RS384": "RSA", "RS512": "RSA",
	"PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
	"ES256": "EC", "ES384": "EC", "ES512": "EC",
	"EdDSA": "OKP", "Ed25519": "OKP",
}

// CanonicalAlgorithm names an algorithm one way: Ed25519 (RFC 9864's
// fully specified name, which jose and others now emit) is EdDSA on the
// one curve supported here, so either name in a policy, a token header
// or a key set's alg means the same algorithm.
func CanonicalAlgorithm(alg string) string {
	if alg == "Ed25519" {
		return "EdDSA"
	}
	return alg
}

// KeyTypeFor returns the JWK key type an algorithm needs, or "" when the
// algorithm is not supported.
func KeyTypeFor(alg string) string { return algKty[alg] }

func (is *Issuer) validate() error {
	if is.Name == "" {
		return errors.New("no name")
	}
	switch is.Kind {
	case KindOpaque:
		if len(is.Algorithms) > 0 || len(is.Keys) > 0 || is.Remote != nil {
			return errors.New("an opaque issuer has no algorithms or keys")
		}
		return nil
	case KindJWT:
	default:
		return fmt.Errorf("kind %q is not jwt or opaque", is.Kind)
	}
	if len(is.Algorithms) == 0 {
		return errors.New("no algorithms")
	}
	if l := is.LevelsFrom; l != nil {
		if l.Source != LevelsFromRoles && l.Source != LevelsFromScopes && l.Source != LevelsFromACR {
			return fmt.Errorf("levels_from: source %q is not roles, scopes or acr", l.Source)
		}
		for k, v := range l.Values {
			if k == "" || v < 0 || v > MaxLevel {
				return fmt.Errorf("levels_from: %q -> %d", k, v)
			}
		}
	}
	if c := is.Claims; c != nil {
		if c.Subject != "" {
			return errors.New("claims.subject: set in identity.claims, for every issuer")
		}
		for _, p := range []string{c.Level, c.Roles} {
			if p != "" {
				if _, err := ParseClaimPath(p); err != nil {
					return err
				}
			}
		}
	}
	if len(is.Keys) == 0 && is.Remote == nil {
		return errors.New("no keys")
	}
	if is.Remote != nil {
		if err := is.Remote.validate(); err != nil {
			return err
		}
	}
	for _, a := range is.Algorithms {
		kty := algKty[a]
		if kty == "" {
			return fmt.Errorf("algorithm %q is not supported", a)
		}
		found := false
		for _, k := range is.Keys {
			found = found || k.Fits(a)
		}
		if is.Remote != nil {
			found = found || is.Remote.Fits(a)
		}
		if !found {
			return fmt.Errorf("algorithm %s has no key that fits it", a)
		}
	}
	for i, k := range is.Keys {
		if _, err := k.Parse(); err != nil {
			return fmt.Errorf("keys[%d]: %w", i, err)
		}
	}
	return nil
}

// IsToken reports whether s is an HTTP token (RFC 9110 section 5.6.2):
// what a header's name and an authentication scheme are made of.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// isTokenChar reports whether c may appear in an HTTP field name (RFC 9110
// token).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
