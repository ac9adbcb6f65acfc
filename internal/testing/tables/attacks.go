package tables

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/state"
)

// Attack is one hostile request against the example policy: GET
// a.shop.example/auth (level 1 needed) unless Method, Host or Path say
// otherwise.
type Attack struct {
	Name    string
	Headers [][2]string
	Status  int    // 200 when it must pass
	Reason  string // expected reason
	Method  string // "" is GET
	Host    string // "" is a.shop.example
	Path    string // "" is /auth
}

// Request is the row's method, host and path.
func (a *Attack) Request() (method, host, path string) {
	method, host, path = a.Method, a.Host, a.Path
	if method == "" {
		method = "GET"
	}
	if host == "" {
		host = "a.shop.example"
	}
	if path == "" {
		path = "/auth"
	}
	return method, host, path
}

// Attacks builds the JWT attack table for the example policy (issuer
// "login" HS256 with secret, issuer "partner" ES256). now is the time the
// target's clock reads.
func Attacks(cfg *config.Config, now time.Time) []Attack {
	// Claims hold whole seconds: from the next whole second, a row "by
	// 1s" keeps at least a second of margin however late it is sent
	// (within a second), instead of the fraction now happens to leave.
	now = now.Truncate(time.Second).Add(time.Second)
	login := issuerOf(cfg, "login")
	secret, _ := base64.RawURLEncoding.DecodeString(login.Keys[0].K)
	partner := issuerOf(cfg, "partner")
	leeway := time.Duration(cfg.Identity.LeewaySeconds) * time.Second
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": login.Issuer, "aud": login.Audiences, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "phone": "13000000001", "level": 1}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	hs := func(c jwt.MapClaims) string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
		return s
	}
	b64 := func(v any) string {
		data, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(data)
	}
	unsigned := func(alg string) string {
		return b64(map[string]string{"alg": alg, "typ": "JWT"}) + "." + b64(good()) + "."
	}
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	raw, _ := attacker.PublicKey.Bytes()
	attackerJWK := map[string]string{"kty": "EC", "crv": "P-256", "x": base64.RawURLEncoding.EncodeToString(raw[1:33]), "y": base64.RawURLEncoding.EncodeToString(raw[33:])}
	es := func(header map[string]any, c jwt.MapClaims) string {
		t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
		for k, v := range header {
			t.Header[k] = v
		}
		s, _ := t.SignedString(attacker)
		return s
	}
	partnerClaims := good()
	partnerClaims["iss"] = partner.Issuer
	partnerJWK, _ := json.Marshal(partner.Keys[0])
	hsWithKey := func(key []byte) string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, partnerClaims).SignedString(key)
		return s
	}
	parts := strings.Split(hs(good()), ".")
	zeroSig := b64(map[string]string{"alg": "ES256", "typ": "JWT", "kid": partner.Keys[0].Kid}) + "." + b64(partnerClaims) + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64))
	crit := func() string {
		t := jwt.NewWithClaims(jwt.SigningMethodHS256, good())
		t.Header["crit"] = []string{"exp"}
		s, _ := t.SignedString(secret)
		return s
	}()

	bearer := func(tok string) [][2]string { return [][2]string{{"authorization", "Bearer " + tok}} }
	bad := func(name, tok string) Attack {
		return Attack{Name: name, Headers: bearer(tok), Status: 401, Reason: "invalid_token"}
	}
	ok := func(name, tok string) Attack {
		return Attack{Name: name, Headers: bearer(tok), Status: 200, Reason: "ok"}
	}
	expired := func(name, tok string) Attack {
		return Attack{Name: name, Headers: bearer(tok), Status: 401, Reason: "token_expired"}
	}

	// Claim conditions: service_b's /tenants/{tenant}/** serves only the
	// tenant in tenant_id (policies/services.yaml).
	tenant := func(name string, v any, path string, status int, reason string) Attack {
		c := good()
		if v != nil {
			c["tenant_id"] = v
		}
		return Attack{Name: name, Headers: bearer(hs(c)), Status: status, Reason: reason, Host: "b.shop.example", Path: path}
	}
	conditions := []Attack{
		tenant("condition: the tenant's own token", "42", "/tenants/42/orders", 200, "ok"),
		tenant("condition: no tenant claim", nil, "/tenants/42/orders", 403, "condition_failed"),
		tenant("condition: a tenant claim that is an object", map[string]any{"id": "42"}, "/tenants/42/orders", 403, "condition_failed"),
		tenant("condition: a tenant claim that is a list", []string{"42", "43"}, "/tenants/42/orders", 403, "condition_failed"),
		tenant("condition: a tenant claim that is null", jsonNull{}, "/tenants/42/orders", 403, "condition_failed"),
		tenant("condition: an empty tenant claim against an empty segment", "", "/tenants//orders", 403, "condition_failed"),
		tenant("condition: another tenant, its parameter percent-encoded", "42", "/tenants/4%33/orders", 403, "condition_failed"),
		tenant("condition: the tenant, its parameter percent-encoded", "42", "/tenants/%342/orders", 200, "ok"),
		tenant("condition: a tenant with a comma against its own prefix", "42,43", "/tenants/42/orders", 403, "condition_failed"),
	}

	return append(conditions, []Attack{
		ok("control: a good token", hs(good())),
		bad("alg none", unsigned("none")),
		bad("alg None", unsigned("None")),
		bad("alg NONE", unsigned("NONE")),
		bad("alg nOnE", unsigned("nOnE")),
		bad("empty signature", parts[0]+"."+parts[1]+"."),
		bad("signature of another token", parts[0]+"."+b64(with("level", 2))+"."+parts[2]),
		bad("partner public key as HS256 secret (JWK JSON)", hsWithKey(partnerJWK)),
		bad("partner public key as HS256 secret (x coordinate)", hsWithKey([]byte(partner.Keys[0].X))),
		bad("attacker key in jwk header", es(map[string]any{"jwk": attackerJWK}, partnerClaims)),
		bad("attacker key behind jku", es(map[string]any{"jku": "https://evil.example/jwks.json"}, partnerClaims)),
		bad("attacker key behind x5u", es(map[string]any{"x5u": "https://evil.example/cert.pem"}, partnerClaims)),
		bad("partner kid on an attacker signature", es(map[string]any{"kid": partner.Keys[0].Kid}, partnerClaims)),
		bad("kid path traversal", es(map[string]any{"kid": "../../../../dev/null"}, partnerClaims)),
		bad("ECDSA r = s = 0", zeroSig),
		bad("wrong iss", hs(with("iss", "https://evil.example"))),
		bad("missing iss", hs(with("iss", nil))),
		bad("wrong aud", hs(with("aud", "other-api"))),
		bad("wrong aud in a list", hs(with("aud", []string{"other-api", "more"}))),
		bad("missing aud", hs(with("aud", nil))),
		ok("aud as a string", hs(with("aud", login.Audiences[0]))),
		ok("aud in a list", hs(with("aud", []string{"other-api", login.Audiences[0]}))),
		expired("expired past the leeway by 1s", hs(with("exp", now.Add(-leeway-time.Second).Unix()))),
		ok("expired within the leeway by 1s", hs(with("exp", now.Add(-leeway+time.Second).Unix()))),
		bad("not yet valid past the leeway by 1s", hs(with("nbf", now.Add(leeway+time.Second).Unix()))),
		ok("not yet valid within the leeway by 1s", hs(with("nbf", now.Add(leeway-time.Second).Unix()))),
		bad("issued in the future", hs(with("iat", now.Add(leeway+time.Minute).Unix()))),
		bad("missing exp when required", hs(with("exp", nil))),
		bad("exp as a string", hs(with("exp", "tomorrow"))),
		bad("level not a number", hs(with("level", "high"))),
		ok("level as a numeric string", hs(with("level", "1"))),
		ok("level as 2.0", hs(with("level", json.Number("2.0")))),
		ok("level as 2e0", hs(with("level", json.Number("2e0")))),
		bad("level as 1.5", hs(with("level", json.Number("1.5")))),
		bad("level with a sign in a string", hs(with("level", "+2"))),
		bad("level with a leading zero in a string", hs(with("level", "02"))),
		bad("level negative", hs(with("level", -1))),
		bad("level above 255", hs(with("level", 256))),
		bad("level with a huge exponent", hs(with("level", json.Number("1e999999999")))),
		bad("crit header", crit),
		bad("1 MB token", strings.Repeat("a", 1<<20)+"."+parts[1]+"."+parts[2]),
		bad("100k dots", strings.Repeat(".", 100000)),
		bad("not a JWT", "hello"),
		bad("bad base64", "!!!.???.***"),
		{Name: "two different tokens", Headers: [][2]string{{"authorization", "Bearer " + hs(good())}, {"x-auth-token", hs(with("level", 2))}}, Status: 401, Reason: "ambiguous_token"},
		{Name: "the same token twice", Headers: [][2]string{{"authorization", "Bearer " + hs(good())}, {"x-auth-token", hs(good())}}, Status: 200, Reason: "ok"},
		{Name: "two Authorization headers", Headers: [][2]string{{"authorization", "Bearer " + hs(good())}, {"authorization", "Bearer " + hs(with("level", 2))}}, Status: 401, Reason: "ambiguous_token"},
		{Name: "other scheme", Headers: [][2]string{{"authorization", "Basic dXNlcjpwYXNz"}}, Status: 401, Reason: "no_token"},
		bad("a sidecar's token issued for another service", hs(with(state.ServiceClaim, "blog"))),
		{Name: "a CORS preflight from another origin", Method: "OPTIONS", Headers: [][2]string{{"origin", "https://evil.example"}, {"access-control-request-method", "DELETE"}}, Status: 403, Reason: "cors_not_allowed"},
		{Name: "level 255 on a path no route matches", Path: "/nope", Headers: bearer(hs(with("level", 255))), Status: 403, Reason: "no_route"},
		{Name: "a _method override in the query", Path: "/auth?_method=DELETE", Headers: bearer(hs(good())), Status: 400, Reason: "override_header"},
		ok("a sidecar's token issued for this service", hs(with(state.ServiceClaim, cfg.Policy))),
		{Name: "header injection through a claim", Headers: bearer(hs(with("phone", "1\r\nx-auth-level: 9"))), Status: 200, Reason: "ok"},
	}...)
}

// envoyReasons are attack rows whose reason differs on Envoy (the status
// does not), and why.
var envoyReasons = map[string]string{
	// Envoy keeps Authorization as one inline header: a second copy is
	// appended to the first with "," (HeaderMapImpl::addViaMove), so the
	// filter sees one value, which is no token.
	"two Authorization headers": "invalid_token",
}

// ReasonOn is the reason a row must get on gateway (config.GatewayKong or
// config.GatewayEnvoy).
func (a *Attack) ReasonOn(gateway string) string {
	if r, ok := envoyReasons[a.Name]; ok && gateway == config.GatewayEnvoy {
		return r
	}
	return a.Reason
}

func issuerOf(cfg *config.Config, name string) config.Issuer {
	for _, is := range cfg.Identity.Issuers {
		if is.Name == name {
			return is
		}
	}
	panic("policy has no issuer " + name)
}

// HostRequest is a request sent with a Host header and a target that
// may be in absolute form ("http://host/path"), and what it must get.
type HostRequest struct {
	Name         string
	Target, Host string
	Status       int
	Reason       string
}

// AbsoluteForms are absolute-form requests against the example policy
// on Kong, where nginx routes and proxies by the request line's host:
// one that names another host than the Host header is refused, one that
// names the same host is decided as usual.
func AbsoluteForms() []HostRequest {
	return []HostRequest{
		{"another host in the request line", "http://b.shop.example/auth", "a.shop.example", 400, "bad_request"},
		{"another host, public path", "http://a.shop.example/", "b.shop.example", 400, "bad_request"},
		{"the same host in the request line", "http://a.shop.example/auth", "a.shop.example", 401, "no_token"},
		{"the same host in another case and with a port", "http://A.Shop.Example:80/auth", "a.shop.example", 401, "no_token"},
		{"an origin-form target", "/auth", "a.shop.example", 401, "no_token"},
	}
}

// jsonNull marshals as JSON null: a claim that is there with no value.
type jsonNull struct{}

func (jsonNull) MarshalJSON() ([]byte, error) { return []byte("null"), nil }
