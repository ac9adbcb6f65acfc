package filter

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter/abi/headermap"
	"github.com/keycard-gw/keycard/filter/httppath"
	"github.com/keycard-gw/keycard/filter/token"
	"github.com/keycard-gw/keycard/table"
)

// Engine decides requests for one configuration. It is not safe for
// concurrent use (its token cache is unlocked): a proxy-wasm VM runs one
// callback at a time.
type Engine struct {
	cfg          *config.Config
	tb           *table.Table
	verifier     *token.Verifier
	remove       []string          // forwarded identity headers and override headers the upstream must not get, lower case
	removeNames  headermap.NameSet // remove's names, for the walks
	refuse       []refusal         // Kong: client headers that refuse the request, since the host cannot remove them
	refuseNames  headermap.NameSet // refuse's names, for the walks
	refused      refusalFound      // what the walk of sentRefused found
	visitRefused func(name, value string)
	sources      []config.TokenSource // lower-case header names
	pathOpts     httppath.Options
	gw           *Gateway               // what the host presents and allows
	scopes       byLine[*config.Scopes] // by route line
	grantScopes  byLine[grantScope]     // role permissions' scopes, by line
	grantHave    []string               // the scopes of the token acceptGrant judges
	grantRefused grantRefusal           // the first permission acceptGrant refused
	acceptGrantF func(table.Rule) bool  // acceptGrant, made once; nil when no permission needs scopes
	conditions   byLine[condition]      // by route line, 0 for a service's
	forwards     []forwarded            // what each identity header carries, by Identity.Forward's index
	shadowHeader string                 // options.shadow_header, lower case
	now          func() time.Time
	setBuf       [][2]string
	states       stateCache
	patterns     patternCache
	cors         corsRules
	keySets      map[string]*keyState // issuers whose keys the sidecar holds
	// The configuration's answers that every request with a token asks
	// for, read once: each is a walk over the issuers or a string
	// comparison inside wasm.
	sidecar        bool // cfg.NeedsSidecar()
	stateAtSidecar bool // sessions.state is sidecar
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
	v, err := token.New(cfg.Policy, &cfg.Identity, now, max, size)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, tb: tb, verifier: v, pathOpts: PathOptions(&cfg.Options), now: now,
		states: stateCache{max: size, entries: map[string]stateEntry{}}, patterns: patternCache{compiled: map[string]*regexp.Regexp{}}}
	for _, f := range cfg.Identity.Forward {
		name := strings.ToLower(f.Header)
		e.remove = append(e.remove, name)
		e.refuse = append(e.refuse, refusal{name, ReasonIdentityHeader, false})
	}
	e.visitRefused = func(n, _ string) { e.refusedHeader(n) }
	e.scopes = scopeRules(cfg)
	if e.grantScopes = grantScopes(cfg, tb.RoleIndex); !e.grantScopes.empty() {
		e.acceptGrantF = e.acceptGrant
	}
	if err := e.readClaims(cfg); err != nil {
		return nil, err
	}
	e.gw, _ = GatewayOf(cfg.Gateway)
	if e.gw == nil {
		e.gw = gateways[config.GatewayEnvoy] // native decisions (explain, test) are told the host directly
	}
	for _, o := range config.OverrideHeaders {
		if slices.Contains(cfg.Options.PassHeaders, o.Name) {
			continue
		}
		switch {
		case e.gw.SetsForwardedPath && o.KongSets:
			// Kong's proxy_set_header replaces a client's copy spelled
			// as the header is (any case), but only while the copy is
			// untouched: the host's removal zeroes its hash, and nginx
			// then sends it next to its own. So it is left alone, and a
			// spelling proxy_set_header does not know (X_Forwarded_Path,
			// which CGI-style upstreams read as the same variable) is
			// refused.
			e.refuse = append(e.refuse, refusal{o.Name, ReasonOverrideHeader, true})
		case !e.gw.RemovesHeaders:
			e.remove = append(e.remove, o.Name)
			e.refuse = append(e.refuse, refusal{o.Name, ReasonOverrideHeader, false})
		default:
			e.remove = append(e.remove, o.Name)
		}
	}
	for _, name := range e.remove {
		e.removeNames.Add(name)
	}
	for _, f := range e.refuse {
		e.refuseNames.Add(f.name)
	}
	e.keySets = map[string]*keyState{}
	for i := range cfg.Identity.Issuers {
		if r := cfg.Identity.Issuers[i].Remote; r != nil {
			e.keySets[cfg.Identity.Issuers[i].Name] = &keyState{remote: r}
		}
	}
	e.sidecar, e.stateAtSidecar = cfg.NeedsSidecar(), cfg.Sessions.State == config.StateSidecar
	e.sources = token.LowerSources(cfg.Identity.Token)
	e.shadowHeader = strings.ToLower(cfg.Options.ShadowHeader)
	e.cors = newCORSRules(cfg.CORS)
	return e, nil
}

// PathOptions is how a configuration's requests have their paths read:
// a gateway that routes requests must route on this reading, the one
// the filter decides on.
func PathOptions(o *config.Options) httppath.Options {
	return httppath.Options{AllowEncodedSlash: o.AllowEncodedPath, Lenient: o.LenientPaths}
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
// Its strings are valid only while a decision is made (the module reads
// them into memory the host reuses for the next request): a decision or
// the engine that keeps one past that copies it.
//
// Authority is the client's host as Envoy presents it (":authority"); in
// Kong (configuration gateway "kong") it is ignored, because Kong's
// ":authority" is nginx's own server name, and the host is read from the
// Host header instead. Path is the request target as the client sent it:
// Envoy's ":path", Kong's request.path property.
type Request struct {
	Method    string
	Authority string
	Path      string
	Headers   Headers

	// RouteHost is, on Kong, the host nginx routes and proxies by
	// ($host: an absolute-form request line's host before the Host
	// header's); "" when the host does not tell it.
	RouteHost string
}

// host is the client's host as the configured gateway presents it. On
// Kong it is the Host header, which must be there once (nginx refuses a
// request with two; an HTTP/2 request may still carry one besides its
// :authority, and then both are in the header list): two different
// values are ambiguous and refused, so the client cannot choose which
// one the rule uses.
func (e *Engine) host(r *Request) (string, error) {
	if !e.gw.HostHeader {
		return httppath.Host(r.Authority)
	}
	first, at := r.Headers.Next("host", 0)
	if at < 0 {
		return "", httppath.ErrNoHost
	}
	for v, at := r.Headers.Next("host", at+1); at >= 0; v, at = r.Headers.Next("host", at+1) {
		if !strings.EqualFold(v, first) {
			return "", httppath.ErrAmbiguousHost
		}
	}
	host, err := httppath.Host(first)
	if err != nil || r.RouteHost == "" {
		return host, err
	}
	// "GET http://b.shop.example/x" with "Host: a.shop.example": nginx
	// routes and proxies by the request line's host, so a decision on
	// the Host header would be about another request. Refused.
	if routed, err := httppath.Host(r.RouteHost); err != nil || routed != host {
		return "", httppath.ErrRoutedHost
	}
	return host, nil
}

// Decide decides a request, reading its token from the headers. When the
// decision needs the sidecar, it comes back with Pending set: ask the
// sidecar, then call Finish.
func (e *Engine) Decide(r *Request) Decision {
	return e.decide(r, func() credential {
		raw, err := token.Extract(e.sources, r.Headers)
		if err != nil {
			return credential{failure: ReasonAmbiguousToken, present: true}
		}
		if raw == "" {
			return credential{}
		}
		id, err := e.verifier.Verify(raw)
		switch e := err.(type) {
		case *token.NeedKeys:
			return credential{raw: raw, present: true, keys: e}
		case *token.TooLarge:
			return credential{failure: ReasonInvalidToken, detail: e, present: true}
		}
		switch err {
		case nil:
			return credential{id: id, raw: raw, present: true}
		case token.ErrOpaque:
			return credential{raw: raw, present: true, opaque: true}
		case token.ErrExpired:
			return credential{failure: ReasonExpiredToken, present: true}
		default:
			return credential{failure: ReasonInvalidToken, present: true}
		}
	}, true)
}

// DecideAs decides a request as if its token had been verified to id, or
// as if it carried none when id is nil (keycard explain). It never asks
// the sidecar.
func (e *Engine) DecideAs(r *Request, id *token.Identity) Decision {
	return e.decide(r, func() credential { return credential{id: id, present: id != nil} }, false)
}

// credential is what the request's token turned out to be.
type credential struct {
	id      *token.Identity // verified JWT identity
	raw     string
	failure string // why the token was refused
	detail  error  // what the log says of it, if more than failure
	present bool   // a token was sent
	opaque  bool   // a token only the sidecar knows
	keys    *token.NeedKeys
}

func (e *Engine) decide(r *Request, identify func() credential, stateful bool) Decision {
	d := e.match(r, identify, stateful)
	if !e.cors.none() { // a policy without CORS rules makes no call
		e.withCORS(r, &d)
	}
	if d.Pending != nil {
		d.Pending.cors = CloneHeaders(d.CORS)
	}
	e.finalize(&d)
	return d
}

// finalize applies shadow mode and adds the header changes to a verdict.
// Decisions pass by pointer where they can: a Decision is a few hundred
// bytes, and each copy inside wasm is a memory.copy.
func (e *Engine) finalize(d *Decision) {
	if !d.Allow && e.shadowed(d) {
		d.Allow, d.Shadow = true, true
	}
	d.Remove = e.remove
	if d.Allow && d.Identity != nil {
		d.Set = e.forward(d.Identity)
	}
	if d.Shadow && e.cfg.Options.ShadowHeader != "" {
		d.Set = append(d.Set, [2]string{e.shadowHeader, strconv.Itoa(d.Status) + " " + d.Reason})
	}
}

// shadowed reports whether a denial falls under shadow mode: the matched
// route's, else its service's, else (no service) the policy's. Refusals
// of a malformed or unsafe request (a bad path, headers the host cannot
// remove) are never shadowed: letting those through would hand the
// upstream what the filter could not vouch for.
func (e *Engine) shadowed(d *Decision) bool {
	switch d.Reason {
	case ReasonBadRequest, ReasonIdentityHeader, ReasonOverrideHeader, ReasonCORS, ReasonPreflight:
		return false
	}
	switch {
	case d.Route >= 0:
		return e.tb.Rule(d.Route).Flags&table.FlagShadow != 0
	case d.Service != "":
		return slices.Contains(e.cfg.ShadowServices, d.Service)
	default:
		return e.cfg.Shadow
	}
}

func (e *Engine) match(r *Request, identify func() credential, stateful bool) Decision {
	if err := httppath.Method(r.Method); err != nil {
		return withDetail(deny(400, ReasonBadRequest), err)
	}
	host, err := e.host(r)
	if err != nil {
		return withDetail(deny(400, ReasonBadRequest), err)
	}
	path, err := httppath.Path(r.Path, e.pathOpts)
	if err != nil {
		return withDetail(deny(400, ReasonBadRequest), err)
	}
	if methodOverride(r.Path) && !slices.Contains(e.cfg.Options.PassHeaders, config.MethodOverrideParam) {
		return withDetail(deny(400, ReasonOverrideHeader), errMethodOverride)
	}
	if !e.gw.RemovesHeaders {
		if name, reason, ok := e.sentRefused(r.Headers); ok {
			return withDetail(deny(400, reason), errClientSent(name))
		}
	}
	if e.cfg.Options.Preflight && isPreflight(r) {
		return e.preflight(r, host, path)
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
		// deny: a token-holder with a role permission may still pass
		// (authorize checks no level where no rule matched).
		rule = table.Rule{}
	}
	if rule.Flags&table.FlagPublic != 0 && rule.Flags&table.FlagTokenOptional == 0 {
		d.Allow, d.Reason = true, ReasonPublic
		return d
	}
	c := identify()
	switch {
	case c.keys != nil:
		return e.needKeys(d, c.keys)
	case c.failure != "" && c.detail != nil:
		return into(d, withDetail(deny(401, c.failure), c.detail))
	case c.failure != "":
		return into(d, deny(401, c.failure))
	case !c.present && m.Rule < 0:
		return into(d, deny(403, ReasonNoRoute))
	case !c.present && rule.Flags&table.FlagPublic != 0:
		d.Allow, d.Reason = true, ReasonPublic
		return d
	case !c.present:
		return into(d, deny(401, ReasonNoToken))
	}
	p := Pending{d: d, rule: rule, ruleMatched: m.Rule >= 0, method: r.Method, path: path, prefix: m.Prefix, id: c.id, opaque: c.opaque}
	if stateful && e.sidecar && (c.opaque || e.stateAtSidecar) {
		p.Name, p.Key = e.stateName(&c)
		if a, ok := e.states.get(p.Key, e.now()); ok {
			return e.authorize(&p, a)
		}
		// Only a request that waits needs it on the heap, with copies of
		// the request's strings: those may live in memory the host
		// reuses for the next request (Request).
		pending := p
		pending.method, pending.path = strings.Clone(p.method), strings.Clone(p.path)
		return Decision{Pending: &pending, Service: d.Service, Route: d.Route, RouteLine: d.RouteLine}
	}
	if c.opaque {
		return into(d, deny(401, ReasonInvalidToken)) // no sidecar to ask
	}
	return e.authorize(&p, nil)
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

func (e *Engine) roleBits(roles []string) table.RoleBits {
	var b table.RoleBits
	for _, r := range roles {
		if i := e.tb.RoleIndex(r); i >= 0 {
			b.Set(i)
		}
	}
	return b
}

// Gateway is the traits of the host the configuration names.
func (e *Engine) Gateway() *Gateway { return e.gw }
