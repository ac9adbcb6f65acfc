package filter

import (
	"strconv"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter/httppath"
	"github.com/keycard-gw/keycard/filter/token"
	"github.com/keycard-gw/keycard/table"
)

// Engine decides requests for one configuration. It is not safe for
// concurrent use (its token cache is unlocked): a proxy-wasm VM runs one
// callback at a time.
type Engine struct {
	cfg      *config.Config
	tb       *table.Table
	verifier *token.Verifier
	remove   []string
	pathOpts httppath.Options
}

// New builds an engine from a decoded, validated configuration.
func New(cfg *config.Config, tb *table.Table, now func() time.Time) (*Engine, error) {
	max := cfg.Options.MaxTokenBytes
	if max == 0 {
		max = config.DefaultMaxTokenBytes
	}
	size := cfg.Options.TokenCacheSize
	if size == 0 {
		size = config.DefaultTokenCacheSize
	}
	v, err := token.New(&cfg.Identity, now, max, size)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, tb: tb, verifier: v, pathOpts: httppath.Options{AllowEncodedSlash: cfg.Options.AllowEncodedPath}}
	for _, f := range cfg.Identity.Forward {
		e.remove = append(e.remove, strings.ToLower(f.Header))
	}
	return e, nil
}

// FromJSON decodes a configuration and builds its engine.
func FromJSON(data []byte, now func() time.Time) (*Engine, error) {
	cfg, tb, err := config.Decode(data)
	if err != nil {
		return nil, err
	}
	return New(cfg, tb, now)
}

// Config is the engine's configuration.
func (e *Engine) Config() *config.Config { return e.cfg }

// Table is the engine's decision table.
func (e *Engine) Table() *table.Table { return e.tb }

// Verifier is the engine's token verifier.
func (e *Engine) Verifier() *token.Verifier { return e.verifier }

// Request is what the gateway hands over. Header names are lower case.
type Request struct {
	Method    string
	Authority string
	Path      string
	Headers   token.Headers
}

// Decide decides a request, reading its token from the headers.
func (e *Engine) Decide(r *Request) Decision {
	return e.decide(r, func() (*token.Identity, string, bool) {
		raw, err := token.Extract(e.cfg.Identity.Token, r.Headers)
		if err != nil {
			return nil, ReasonAmbiguousToken, true
		}
		if raw == "" {
			return nil, "", false
		}
		id, err := e.verifier.Verify(raw)
		switch err {
		case nil:
			return id, "", true
		case token.ErrExpired:
			return nil, ReasonExpiredToken, true
		default:
			return nil, ReasonInvalidToken, true
		}
	})
}

// DecideAs decides a request as if its token had been verified to id, or
// as if it carried none when id is nil (keycard explain).
func (e *Engine) DecideAs(r *Request, id *token.Identity) Decision {
	return e.decide(r, func() (*token.Identity, string, bool) { return id, "", id != nil })
}

// identityFunc returns the verified identity, or the reason the token
// failed, and whether a token was sent at all.
type identityFunc func() (id *token.Identity, failure string, present bool)

func (e *Engine) decide(r *Request, identify identityFunc) Decision {
	d := e.match(r, identify)
	d.Remove = e.remove
	if d.Allow && d.Identity != nil {
		d.Set = e.forward(d.Identity)
	}
	return d
}

func (e *Engine) match(r *Request, identify identityFunc) Decision {
	if err := httppath.Method(r.Method); err != nil {
		return withDetail(deny(400, ReasonBadRequest), err)
	}
	host, err := httppath.Host(r.Authority)
	if err != nil {
		return withDetail(deny(400, ReasonBadRequest), err)
	}
	path, err := httppath.Path(r.Path, e.pathOpts)
	if err != nil {
		return withDetail(deny(400, ReasonBadRequest), err)
	}
	if e.cfg.Options.Preflight && r.Method == "OPTIONS" && has(r.Headers, "origin") && has(r.Headers, "access-control-request-method") {
		return Decision{Allow: true, Reason: ReasonPreflight, Route: -1}
	}
	m := e.tb.Lookup(host, r.Method, path)
	if m.Service < 0 {
		return deny(404, ReasonNoService)
	}
	d := Decision{Service: e.tb.ServiceName(m.Service), Route: m.Rule}
	var rule table.Rule
	if m.Rule >= 0 {
		rule = e.tb.Rule(m.Rule)
		d.RouteLine = int(rule.Line)
	} else {
		switch e.tb.ServiceDefault(m.Service) {
		case table.DefaultAllow:
			d.Allow, d.Reason = true, ReasonDefaultAllow
			return d
		case table.DefaultNotFound:
			return into(d, deny(404, ReasonNoRoute))
		}
		// deny: a token-holder with a role permission may still pass.
		rule = table.Rule{Level: 255}
	}
	if rule.Flags&table.FlagPublic != 0 && rule.Flags&table.FlagTokenOptional == 0 {
		d.Allow, d.Reason = true, ReasonPublic
		return d
	}
	id, failure, present := identify()
	switch {
	case failure != "":
		return into(d, deny(401, failure))
	case !present && m.Rule < 0:
		return into(d, deny(403, ReasonNoRoute))
	case !present && rule.Flags&table.FlagPublic != 0:
		d.Allow, d.Reason = true, ReasonPublic
		return d
	case !present:
		return into(d, deny(401, ReasonNoToken))
	}
	d.Identity = id
	if rule.Flags&table.FlagPublic != 0 {
		d.Allow, d.Reason = true, ReasonPublic
		return d
	}
	roles := e.roleBits(id.Roles)
	need := e.tb.RoleSet(rule.RoleSet)
	levelOK := id.Level >= int(rule.Level)
	roleOK := need.Empty() || need.Intersects(roles)
	if levelOK && roleOK {
		d.Allow, d.Reason = true, ReasonOK
		return d
	}
	if e.tb.Granted(r.Method, path, roles) {
		d.Allow, d.Reason = true, ReasonGranted
		return d
	}
	switch {
	case m.Rule < 0:
		return into(d, deny(403, ReasonNoRoute))
	case !levelOK:
		return into(d, deny(403, ReasonLevel))
	default:
		return into(d, deny(403, ReasonRole))
	}
}

// into keeps the match facts of d and takes the verdict of v.
func into(d, v Decision) Decision {
	v.Service, v.Route, v.RouteLine, v.Identity = d.Service, d.Route, d.RouteLine, d.Identity
	return v
}

func withDetail(d Decision, err error) Decision {
	d.Detail = err.Error()
	return d
}

func has(h token.Headers, name string) bool { return len(h.Values(name)) > 0 }

func (e *Engine) roleBits(roles []string) table.RoleBits {
	var b table.RoleBits
	for _, r := range roles {
		if i := e.tb.RoleIndex(r); i >= 0 {
			b.Set(i)
		}
	}
	return b
}

func (e *Engine) forward(id *token.Identity) [][2]string {
	var out [][2]string
	for i, f := range e.cfg.Identity.Forward {
		var v string
		switch f.Field {
		case "subject":
			v = id.Subject
		case "level":
			v = strconv.Itoa(id.Level)
		case "roles":
			v = strings.Join(id.Roles, ",")
		case "issuer":
			v = id.Issuer
		}
		if v != "" && validHeaderValue(v) {
			out = append(out, [2]string{e.remove[i], v})
		}
	}
	return out
}

// validHeaderValue refuses values a client could use to smuggle a header
// through a claim (CR, LF, NUL and other controls).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// String renders a decision for logs and explain. It avoids fmt, which
// is slow inside wasm, because the filter logs every denial.
func (d Decision) String() string {
	verdict := "allow"
	if !d.Allow {
		verdict = strconv.Itoa(d.Status)
	}
	s := verdict + " (" + d.Reason + ")"
	if d.Service != "" {
		s += " service=" + d.Service
	}
	if d.RouteLine > 0 {
		s += " route at line " + strconv.Itoa(d.RouteLine)
	}
	if d.Detail != "" {
		s += ": " + d.Detail
	}
	return s
}
