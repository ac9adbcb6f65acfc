package state

import (
	"encoding/base64"
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/state/jsonscan"
)

// Kinds of token the state endpoint is asked about.
const (
	KindJWT    = "jwt"    // a JWT the filter verified
	KindOpaque = "opaque" // a random token only the sidecar knows
)

// ServiceClaim is the claim in which the sidecar's own JWTs (getToken
// with a JWT secret) name the service they were issued for. The filter
// refuses a token whose ServiceClaim is not its policy's name, so a
// secret shared by two services' sidecars does not make one service's
// tokens good at the other.
const ServiceClaim = "keycard_service"

// Name says whose token a state question is about: the service (the
// policy's name), the issuer, the subject and the token's id. It is the
// one key of token state everywhere — the filter's answer cache, its
// shared in-flight calls, the state endpoint's query and Redis — so that
// no token finds another's state by choosing a jti.
type Name struct {
	Service  string
	Kind     string // KindJWT or KindOpaque
	Issuer   string // the JWT's iss ("" when it has none; always "" for opaque tokens)
	Subject  string // the JWT's subject; "" for opaque tokens (the sidecar knows their user) and JWTs without one
	ID       string // JWTID's or SignedID's name: "jti:…" or "sha256:…"
	IssuedAt int64  // the JWT's iat in whole seconds; 0 when it has none
}

// Key is n as one string: each part length-prefixed, so no two names
// share a key whatever bytes their parts hold.
func (n *Name) Key() string {
	var b strings.Builder
	for _, p := range [...]string{n.Service, n.Kind, n.Issuer, n.Subject, n.ID, strconv.FormatInt(n.IssuedAt, 10)} {
		b.WriteString(strconv.Itoa(len(p)))
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}

// Query is the state endpoint's path and query that asks about n.
func (n *Name) Query() string {
	q := "/v1/state?service=" + url.QueryEscape(n.Service) + "&kind=" + n.Kind + "&token=" + url.QueryEscape(n.ID)
	if n.Issuer != "" {
		q += "&issuer=" + url.QueryEscape(n.Issuer)
	}
	if n.Subject != "" {
		q += "&user=" + url.QueryEscape(n.Subject)
	}
	if n.IssuedAt != 0 {
		q += "&iat=" + strconv.FormatInt(n.IssuedAt, 10)
	}
	return q
}

// ParseQuery reads a state question (the sidecar's side of Query). Every
// part is checked: a question this build cannot read exactly is refused,
// never answered as a guess.
func ParseQuery(q url.Values) (Name, error) {
	for k, v := range q {
		switch k {
		case "service", "kind", "token", "issuer", "user", "iat":
			if len(v) != 1 {
				return Name{}, errors.New(k + " given more than once")
			}
		default:
			return Name{}, errors.New("unknown parameter " + strconv.Quote(k))
		}
	}
	n := Name{Service: q.Get("service"), Kind: q.Get("kind"), Issuer: q.Get("issuer"), Subject: q.Get("user"), ID: q.Get("token")}
	switch {
	case n.Service == "":
		return Name{}, errors.New("service is required")
	case n.ID == "":
		return Name{}, errors.New("token is required")
	case n.Kind != KindJWT && n.Kind != KindOpaque:
		return Name{}, errors.New("kind must be jwt or opaque (a filter older than this sidecar?)")
	case n.Kind == KindOpaque && (n.Issuer != "" || n.Subject != "" || q.Has("iat")):
		return Name{}, errors.New("an opaque token has no issuer, user or iat")
	}
	if s := q.Get("iat"); s != "" {
		iat, err := strconv.ParseInt(s, 10, 64)
		if err != nil || iat == 0 {
			return Name{}, errors.New("iat must be a non-zero number of seconds")
		}
		n.IssuedAt = iat
	}
	return n, nil
}

// Claims are what naming a token reads of a JWT's payload.
type Claims struct {
	Issuer   string // iss
	Subject  string // the subject claim (a number is taken as its text)
	JTI      string
	Service  string // ServiceClaim
	IssuedAt int64  // iat in whole seconds (rounded down); 0 when absent
	Expires  int64  // exp in whole seconds (rounded down); 0 when absent
}

// ReadClaims reads the naming claims of a JWT payload (its decoded JSON)
// the one way both sides read them: member names compared exactly (jti,
// not JTI), a claim given twice or with a value of the wrong type
// refused. subject is the claim path that names the user (the policy's
// claims.subject, config.ParseClaimPath).
func ReadClaims(payload []byte, subject []string) (Claims, error) {
	var c Claims
	var seen [6]bool
	err := jsonscan.Object(payload, func(key, raw []byte) error {
		k := string(key)
		slot := -1
		switch k {
		case "iss":
			slot = 0
		case "jti":
			slot = 1
		case ServiceClaim:
			slot = 2
		case "iat":
			slot = 3
		case "exp":
			slot = 4
		}
		if slot < 0 {
			return nil
		}
		if seen[slot] {
			return errors.New("claim " + k + " given twice")
		}
		seen[slot] = true
		var err error
		switch slot {
		case 0:
			c.Issuer, err = jsonscan.String(raw)
		case 1:
			c.JTI, err = jsonscan.String(raw)
		case 2:
			c.Service, err = jsonscan.String(raw)
		case 3:
			c.IssuedAt, err = seconds(raw)
		case 4:
			c.Expires, err = seconds(raw)
		}
		if err != nil {
			return errors.New("claim " + k + ": " + err.Error())
		}
		return nil
	})
	if err != nil || len(subject) == 0 {
		return c, err
	}
	err = jsonscan.Paths(payload, [][]string{subject}, func(_ int, raw []byte) error {
		s, err := jsonscan.StringOrNumber(raw)
		if err != nil {
			return errors.New("claim " + strings.Join(subject, ".") + ": " + err.Error())
		}
		c.Subject = s
		return nil
	})
	return c, err
}

// seconds reads a NumericDate (RFC 7519 2: seconds, maybe fractional)
// as whole seconds, rounded down; null is absent (0).
func seconds(raw []byte) (int64, error) {
	if string(raw) == "null" {
		return 0, nil
	}
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return 0, errors.New("not a number")
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) || math.Abs(f) > 1<<40 {
		return 0, errors.New("not a time")
	}
	return int64(math.Floor(f)), nil
}

// ParseJWT reads the naming claims of a raw JWT without verifying it:
// the sidecar's side, where a token only chooses which state a business
// call writes. It is an error for raw not to be a JWT.
func ParseJWT(raw, subjectClaim string) (Claims, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return Claims{}, errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
	if err != nil {
		return Claims{}, errors.New("not a JWT: its payload is not base64url")
	}
	path, err := config.ParseClaimPath(subjectClaim)
	if err != nil {
		return Claims{}, err
	}
	return ReadClaims(payload, path)
}

// IsJWT reports whether raw has a JWT's shape (three segments); opaque
// tokens have none of its dots.
func IsJWT(raw string) bool { return strings.Count(raw, ".") == 2 }

// JWTID names a JWT: its jti when it has one, else SignedID.
func JWTID(c *Claims, raw string) string {
	if c.JTI != "" {
		return JTIID(c.JTI)
	}
	return SignedID(raw)
}
