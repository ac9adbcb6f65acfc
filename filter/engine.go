package filter

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter/httppath"
	"github.com/keycard-gw/keycard/filter/token"
	"github.com/keycard-gw/keycard/state"
	"github.com/keycard-gw/keycard/table"
)

// Engine decides requests for one configuration. It is not safe for
// concurrent use (its token cache is unlocked): a proxy-wasm VM runs one
// callback at a time.
type Engine struct {
	cfg          *config.Config
	tb           *table.Table
	verifier     *token.Verifier
	remove       []string             // forwarded identity headers and override headers the upstream must not get, lower case
	removeLens   uint64               // bit n: some name in remove is n bytes long (n < 64)
	longRemove   bool                 // some name in remove is 64 bytes or longer
	refuse       []refusal            // Kong: client headers that refuse the request, since the host cannot remove them
	sources      []config.TokenSource // lower-case header names
	pathOpts     httppath.Options
	kong         bool   // the client's host is the Host header, not :authority
	shadowHeader string // options.shadow_header, lower case
	now          func() time.Time
	setBuf       [][2]string
	states       stateCache
	patterns     patternCache
	cors         corsRules
	keySets      map[string]*keyState // issuers whose keys the sidecar holds
}

// keyState is the engine's side of one issuer's remote keys: when they
// were last asked for and when to ask again.
type keyState struct {
	remote *config.Remote
	// When a token last had keys fetched for it (the fetch sent, then
	// its answer), zero for never: for a kid the keys lack, and while
	// there are no keys at all. Each allows one fetch per min_interval;
	// the periodic poll spends neither, so a key rotated in just after a
	// poll, or after the first keys arrived, is fetched for at once.
	kidAsked, noneAsked time.Time
	inflight            bool
	asking              *time.Time // the allowance the fetch in flight spends; nil for a poll
	nextPoll            time.Time
	polledAt            time.Time // when the poll in flight, if any, was sent
	set                 string    // KeySet.Set of the keys in use
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
	e.kong = cfg.Gateway == config.GatewayKong
	for _, o := range config.OverrideHeaders {
		if slices.Contains(cfg.Options.PassHeaders, o.Name) {
			continue
		}
		switch {
		case e.kong && o.KongSets:
			// Kong's proxy_set_header replaces a client's copy spelled
			// as the header is (any case), but only while the copy is
			// untouched: the host's removal zeroes its hash, and nginx
			// then sends it next to its own. So it is left alone, and a
			// spelling proxy_set_header does not know (X_Forwarded_Path,
			// which CGI-style upstreams read as the same variable) is
			// refused.
			e.refuse = append(e.refuse, refusal{o.Name, ReasonOverrideHeader, true})
		case e.kong:
			e.remove = append(e.remove, o.Name)
			e.refuse = append(e.refuse, refusal{o.Name, ReasonOverrideHeader, false})
		default:
			e.remove = append(e.remove, o.Name)
		}
	}
	for _, name := range e.remove {
		if len(name) < 64 {
			e.removeLens |= 1 << len(name)
		} else {
			e.longRemove = true
		}
	}
	e.keySets = map[string]*keyState{}
	for i := range cfg.Identity.Issuers {
		if r := cfg.Identity.Issuers[i].Remote; r != nil {
			e.keySets[cfg.Identity.Issuers[i].Name] = &keyState{remote: r}
		}
	}
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
	Headers   token.Headers

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
	if !e.kong {
		return httppath.Host(r.Authority)
	}
	first, ok := r.Headers.Nth("host", 0)
	if !ok {
		return "", httppath.ErrNoHost
	}
	for i := 1; ; i++ {
		v, more := r.Headers.Nth("host", i)
		if !more {
			break
		}
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
	e.withCORS(r, &d)
	if d.Pending != nil {
		d.Pending.cors = d.CORS
	}
	return e.finalize(d)
}

// finalize applies shadow mode and adds the header changes to a verdict.
func (e *Engine) finalize(d Decision) Decision {
	if !d.Allow && e.shadowed(&d) {
		d.Allow, d.Shadow = true, true
	}
	d.Remove = e.remove
	if d.Allow && d.Identity != nil {
		d.Set = e.forward(d.Identity)
	}
	if d.Shadow && e.cfg.Options.ShadowHeader != "" {
		d.Set = append(d.Set, [2]string{e.shadowHeader, strconv.Itoa(d.Status) + " " + d.Reason})
	}
	return d
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
	if e.kong {
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
	p := Pending{d: d, rule: rule, ruleMatched: m.Rule >= 0, method: r.Method, path: path, id: c.id, opaque: c.opaque}
	if stateful && e.cfg.NeedsSidecar() && (c.opaque || e.cfg.Sessions.State == config.StateSidecar) {
		p.Name, p.Key = e.stateName(&c)
		if a, ok := e.states.get(p.Key, e.now()); ok {
			return e.authorize(&p, a)
		}
		pending := p // only a request that waits needs it on the heap
		return Decision{Pending: &pending, Service: d.Service, Route: d.Route, RouteLine: d.RouteLine}
	}
	if c.opaque {
		return into(d, deny(401, ReasonInvalidToken)) // no sidecar to ask
	}
	return e.authorize(&p, nil)
}

// KeyFetch is a request whose token's issuer keys the sidecar holds and
// the filter does not have yet: send the fetch (Send) or wait for the one
// in flight, hand its answer to KeysArrived, then decide the request
// again.
type KeyFetch struct {
	Issuer string
	Kid    string // the kid the token names, "" when none
	Send   bool
}

// Query is the sidecar path of the fetch.
func (k *KeyFetch) Query() string { return state.KeysQuery(k.Issuer, k.Kid) }

// needKeys decides a token that keys the filter lacks might verify. The
// issuer's keys are asked for at most once per min_interval, however many
// tokens name unknown kids; on Envoy requests wait for the fetch in
// flight (the answer resumes them from the root context), on Kong only
// the request that sent it can. A request that cannot wait is refused:
// 401 when the issuer has keys and none is the token's, 503 while it has
// none at all (the token may be good; the keys are what is missing).
func (e *Engine) needKeys(d Decision, n *token.NeedKeys) Decision {
	st := e.keySets[n.Issuer]
	now := e.now()
	switch {
	case st.inflight && !e.kong:
		return Decision{Keys: &KeyFetch{Issuer: n.Issuer, Kid: n.Kid}, Service: d.Service, Route: d.Route, RouteLine: d.RouteLine}
	case !st.inflight && allowed(*st.allowance(n), now, st.remote):
		st.inflight, st.asking = true, st.allowance(n)
		*st.asking = now
		return Decision{Keys: &KeyFetch{Issuer: n.Issuer, Kid: n.Kid, Send: true}, Service: d.Service, Route: d.Route, RouteLine: d.RouteLine}
	case n.None:
		return into(d, withDetail(deny(503, ReasonKeysUnavailable), n))
	default:
		return into(d, withDetail(deny(401, ReasonInvalidToken), n))
	}
}

// allowance is the time a token's fetch of keys spends: its own for a
// kid the keys lack, another while there are no keys.
func (st *keyState) allowance(n *token.NeedKeys) *time.Time {
	if n.None {
		return &st.noneAsked
	}
	return &st.kidAsked
}

// allowed reports whether a fetch last spent at may be sent now.
func allowed(at, now time.Time, r *config.Remote) bool {
	return at.IsZero() || now.Sub(at) >= time.Duration(r.MinIntervalMillis)*time.Millisecond
}

// KeyTickMillis is how often the host should call KeysDue (the root's
// tick period).
const KeyTickMillis = 1000

// KeysDue names the issuers whose keys are due to be asked for again
// (at start, then every Remote.PollMillis) and marks them in flight: send
// a fetch for each (KeysQuery with no kid) and hand its answer to
// KeysArrived.
//
// The next poll counts from when this one was sent, and a poll is due
// half a tick early: a host's ticks come about KeyTickMillis apart,
// never exactly, and a poll due just after a tick would wait for the
// next one, doubling a one-second period.
func (e *Engine) KeysDue() []string {
	now := e.now()
	var due []string
	for name, st := range e.keySets {
		if !st.inflight && !now.Before(st.nextPoll.Add(-KeyTickMillis/2*time.Millisecond)) {
			st.inflight, st.asking, st.polledAt = true, nil, now
			due = append(due, name)
		}
	}
	slices.Sort(due)
	return due
}

// KeyTimeoutMillis is how long the sidecar may take to fetch an issuer's
// keys from the provider.
func (e *Engine) KeyTimeoutMillis(issuer string) int {
	if st, ok := e.keySets[issuer]; ok {
		return st.remote.TimeoutMillis
	}
	return 0
}

// HoldsRemoteKeys reports whether any issuer's keys come from the sidecar.
func (e *Engine) HoldsRemoteKeys() bool { return len(e.keySets) > 0 }

// KeysArrived takes the sidecar's answer to a key fetch (its body, or the
// error that kept it from answering). A failed fetch keeps the keys in
// use and is tried again after min_interval. It reports whether the
// keys changed.
func (e *Engine) KeysArrived(issuer string, body []byte, fetchErr error) (bool, error) {
	st, ok := e.keySets[issuer]
	if !ok {
		return false, errors.New("keys for an unknown issuer " + strconv.Quote(issuer))
	}
	now := e.now()
	// min_interval counts from the answer: a fetch slower than it must
	// not let the requests that waited for it send the next one. The
	// periodic poll spends no kid's allowance: a token signed with a key
	// rotated in just after a poll is fetched for at once.
	wasPoll := st.inflight && st.asking == nil
	if st.asking != nil {
		*st.asking = now
	}
	st.inflight, st.asking = false, nil
	retry := now.Add(time.Duration(st.remote.MinIntervalMillis) * time.Millisecond)
	if fetchErr != nil {
		st.nextPoll = retry
		return false, fetchErr
	}
	ks, err := state.DecodeKeySet(body, issuer)
	if err != nil {
		st.nextPoll = retry
		return false, err
	}
	from := now
	if wasPoll {
		from = st.polledAt
	}
	st.nextPoll = from.Add(time.Duration(st.remote.PollMillis()) * time.Millisecond)
	if ks.Set == st.set && st.set != "" {
		return false, nil
	}
	if _, err := e.verifier.SetRemoteKeys(issuer, ks.Keys); err != nil {
		return false, err
	}
	st.set = ks.Set
	return true, nil
}

// stateName names a credential's token to the sidecar, with the name's
// key: the policy's name as the service, then whose token it is.
func (e *Engine) stateName(c *credential) (state.Name, string) {
	if c.opaque {
		n := state.Name{Service: e.cfg.Policy, Kind: state.KindOpaque, ID: state.SignedID(c.raw)}
		return n, n.Key()
	}
	return c.id.StateName(e.cfg.Policy, c.raw)
}

// Pending is a request waiting for the sidecar's answer about its token.
type Pending struct {
	// Name is the token's name at the sidecar, Key its key: requests
	// with the same Key may share one call and its answer.
	Name state.Name
	Key  string

	d           Decision
	rule        table.Rule
	ruleMatched bool
	method      string
	path        string
	id          *token.Identity
	opaque      bool
	cors        [][2]string // the response's CORS headers, decided with the match
}

// StateQuery is the sidecar path that answers p.
func (p *Pending) StateQuery() string { return p.Name.Query() }

// Finish completes a pending decision with the sidecar's answer, or with
// the error that kept it from answering (on_error decides).
func (e *Engine) Finish(p *Pending, a *state.Answer, err error) Decision {
	var d Decision
	switch {
	case err != nil && (!e.cfg.Sessions.OnErrorAllow || p.opaque):
		d = into(p.d, withDetail(deny(503, ReasonSidecar), err))
	case err != nil:
		d = e.authorize(p, nil)
	default:
		e.states.put(p.Key, a, e.now(), time.Duration(e.cfg.Sessions.CacheMillis)*time.Millisecond)
		d = e.authorize(p, a)
	}
	d.CORS = p.cors
	return e.finalize(d)
}

// authorize decides with the identity and, when there is one, the
// sidecar's answer.
func (e *Engine) authorize(p *Pending, a *state.Answer) Decision {
	d := p.d
	id := p.id
	if a != nil {
		switch a.Token {
		case state.Revoked:
			return into(d, deny(401, ReasonRevoked))
		case state.Conflict:
			return into(d, deny(401, ReasonConflict))
		case state.Unknown:
			if p.opaque {
				return into(d, deny(401, ReasonInvalidToken))
			}
		}
		if !p.opaque && id.Subject == "" {
			// A JWT without a subject belongs to no user: its token's
			// state decides, and no user's facts apply to it, whatever
			// the answer holds.
			a = &state.Answer{Version: a.Version, Token: a.Token, Status: state.Enabled}
		}
		if p.opaque {
			id = &token.Identity{Issuer: e.verifier.OpaqueIssuer(), Subject: a.User, Level: a.Level, Roles: a.Roles}
		} else if len(a.Roles) > 0 {
			merged := *id
			merged.Roles = append(append([]string(nil), id.Roles...), a.Roles...)
			id = &merged
		}
		d.Identity = id
		if a.Status == state.Disabled {
			return into(d, deny(403, ReasonDisabled))
		}
		if e.patterns.any(a.Deny, p.path, true) {
			return into(d, deny(403, ReasonUserDenied))
		}
	}
	d.Identity = id
	rule := p.rule
	if rule.Flags&table.FlagPublic != 0 {
		d.Allow, d.Reason = true, ReasonPublic
		return d
	}
	roles := e.roleBits(id.Roles)
	need := e.tb.RoleSet(rule.RoleSet)
	levelOK := id.Level >= int(rule.Level)
	roleOK := need.Empty() || need.Intersects(roles)
	// Where no route matched (default: deny), no level is enough: only a
	// role permission or a per-user grant opens the path.
	if p.ruleMatched && levelOK && roleOK {
		d.Allow, d.Reason = true, ReasonOK
		return d
	}
	if e.tb.Granted(p.method, p.path, roles) {
		d.Allow, d.Reason = true, ReasonGranted
		return d
	}
	if a != nil && e.patterns.any(a.Allow, p.path, false) {
		d.Allow, d.Reason = true, ReasonUserGranted
		return d
	}
	switch {
	case !p.ruleMatched:
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

// stateCache keeps sidecar answers per token id for sessions.cache.
type stateCache struct {
	max     int
	entries map[string]stateEntry
}

type stateEntry struct {
	a     *state.Answer
	until time.Time
}

func (c *stateCache) get(id string, now time.Time) (*state.Answer, bool) {
	e, ok := c.entries[id]
	if !ok {
		return nil, false
	}
	if !now.Before(e.until) {
		delete(c.entries, id)
		return nil, false
	}
	return e.a, true
}

func (c *stateCache) put(id string, a *state.Answer, now time.Time, ttl time.Duration) {
	if ttl <= 0 || c.max <= 0 {
		return
	}
	if len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[id] = stateEntry{a, now.Add(ttl)}
}

// patternCache compiles per-user patterns once. Patterns match the whole
// normalised path (they are anchored).
type patternCache struct {
	compiled map[string]*regexp.Regexp
}

const maxPatterns = 1024

// any reports whether one pattern matches path. A pattern that does not
// compile matches when failClosed (deny lists) and not otherwise.
func (c *patternCache) any(patterns []string, path string, failClosed bool) bool {
	for _, p := range patterns {
		re, ok := c.compiled[p]
		if !ok {
			var err error
			re, err = regexp.Compile(`^(?:` + p + `)$`)
			if err != nil {
				re = nil
			}
			if len(c.compiled) >= maxPatterns {
				clear(c.compiled)
			}
			c.compiled[p] = re
		}
		if re == nil {
			if failClosed {
				return true
			}
			continue
		}
		if re.MatchString(path) {
			return true
		}
	}
	return false
}

func withDetail(d Decision, err error) Decision {
	d.Detail = err.Error()
	return d
}

func has(h token.Headers, name string) bool { return len(h.Values(name)) > 0 }

// refusal is a header whose client copy refuses a request on Kong, and
// the reason given. With variantsOnly, only spellings that are not the
// name itself in some case refuse ("_" for "-").
type refusal struct {
	name, reason string
	variantsOnly bool
}

// refuses reports whether a client header named n falls under f.
func (f *refusal) refuses(n string) bool {
	return SameHeaderName(n, f.name) && !(f.variantsOnly && strings.EqualFold(n, f.name))
}

// sentRefused finds, on Kong, a client header that must not reach the
// upstream: a forwarded identity header, or an override header the
// policy does not pass.
//
// Kong's host cannot take a request header away: ngx_wasm_module's
// proxy_remove_header_map_value (and the duplicates that
// proxy_replace_header_map_value drops) only zero the header's hash
// (src/http/ngx_http_wasm_headers.c, ngx_http_wasm_set_header_helper),
// and nginx's proxy module copies r->headers_in without looking at it
// (ngx_http_proxy_create_request), so the upstream would still receive
// the client's copy. On Kong such a request is refused instead.
//
// Names compare as SameHeaderName does: Kong's nginx runs with
// underscores_in_headers on (kong/templates/nginx_kong.lua).
func (e *Engine) sentRefused(h token.Headers) (name, reason string, found bool) {
	all, ok := h.(headerWalker)
	if !ok {
		for _, f := range e.refuse {
			if _, ok := h.Nth(f.name, 0); ok && !f.variantsOnly {
				return f.name, f.reason, true
			}
		}
		return "", "", false
	}
	all.Each(func(n, _ string) {
		if found || len(n) == 0 || n[0] == ':' {
			return
		}
		for i := range e.refuse {
			if f := &e.refuse[i]; f.refuses(n) {
				name, reason, found = n, f.reason, true
				return
			}
		}
	})
	return name, reason, found
}

// headerWalker is a header list that can be walked whole (the module's
// and the tests' lists can).
type headerWalker interface {
	Each(fn func(name, value string))
}

// MayStrip reports whether a request header's name can match one of the
// names decisions remove (Decision.Remove, SameHeaderName): false means
// it matches none, known by its length alone, which saves comparing it
// with every one of them.
func (e *Engine) MayStrip(name string) bool {
	if len(name) >= 64 {
		return e.longRemove
	}
	return e.removeLens&(1<<len(name)) != 0
}

// SameHeaderName compares header names without regard to case, taking
// "_" and "-" for one character: CGI, WSGI, PHP and Rack read
// X_Auth_Level as HTTP_X_AUTH_LEVEL, the same variable as X-Auth-Level.
// forwarded is lower case.
func SameHeaderName(name, forwarded string) bool {
	if len(name) != len(forwarded) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c, f := name[i], forwarded[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == '_' {
			c = '-'
		}
		if f == '_' {
			f = '-'
		}
		if c != f {
			return false
		}
	}
	return true
}

var errMethodOverride = errors.New("the query names _method, which Rails, Laravel and Symfony take as the request's method")

// methodOverride reports whether a request target's query has a
// _method parameter (its name percent-decoded), the override
// frameworks read instead of the request's method. A form body's
// _method the filter does not see (docs/policy.md).
func methodOverride(target string) bool {
	_, query, ok := strings.Cut(target, "?")
	if !ok || !strings.Contains(query, "method") && !strings.Contains(query, "%") {
		return false
	}
	for part := range strings.SplitSeq(query, "&") {
		name, _, _ := strings.Cut(part, "=")
		if decoded, err := url.QueryUnescape(name); err == nil {
			name = decoded
		}
		if name == "_method" {
			return true
		}
	}
	return false
}

type errClientSent string

func (e errClientSent) Error() string {
	return "the client sent " + string(e) + ", which Kong's host cannot keep from the upstream"
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

// forward lists the identity headers to set. It reuses the engine's
// buffer: a decision's Set is valid until the engine's next decision.
func (e *Engine) forward(id *token.Identity) [][2]string {
	out := e.setBuf[:0]
	for i, f := range e.cfg.Identity.Forward {
		var v string
		switch f.Field {
		case "subject":
			v = id.Subject
		case "level":
			v = strconv.Itoa(id.Level)
		case "roles":
			v = joinRoles(id.Roles)
		case "issuer":
			v = id.Issuer
		}
		if v != "" && validHeaderValue(v) {
			out = append(out, [2]string{e.remove[i], v})
		}
	}
	e.setBuf = out
	return out
}

// joinRoles lists roles for the roles header, separated by commas. A
// role that holds a comma, or is empty, cannot be told apart in such a
// list (a token role "x,admin" would read as the role admin upstream),
// so it is left out: the upstream sees fewer roles, never one the token
// does not hold.
func joinRoles(roles []string) string {
	listable := func(r string) bool { return r != "" && strings.IndexByte(r, ',') < 0 }
	if len(roles) == 1 && listable(roles[0]) {
		return roles[0] // the usual case, without a copy
	}
	var b strings.Builder
	for _, r := range roles {
		if listable(r) {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(r)
		}
	}
	return b.String()
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

// Shadowing reports whether any part of the policy is in shadow mode.
func (e *Engine) Shadowing() bool {
	if e.cfg.Shadow || len(e.cfg.ShadowServices) > 0 {
		return true
	}
	for i := range e.tb.NumRoutes() {
		if e.tb.Rule(i).Flags&table.FlagShadow != 0 {
			return true
		}
	}
	return false
}

// LogLine is a denial (or, under shadow mode, a would-be denial) as one
// structured log line: the policy and its table's hash, the service and
// route, status, reason, and the caller as a SHA-256 prefix of its
// subject — never the token.
func (e *Engine) LogLine(d *Decision) string {
	kind := "deny"
	if d.Shadow {
		kind = "shadow-deny"
	}
	h := e.tb.Hash()
	s := "keycard: " + kind + " policy=" + e.cfg.Policy + " table=" + hex.EncodeToString(h[:4]) +
		" status=" + strconv.Itoa(d.Status) + " reason=" + d.Reason
	if d.Service != "" {
		s += " service=" + d.Service
	}
	if d.Route >= 0 {
		s += " route=" + e.tb.RoutePattern(d.Route)
	}
	if d.Identity != nil {
		sum := sha256.Sum256([]byte(d.Identity.Subject))
		s += " subject=sha256:" + hex.EncodeToString(sum[:8])
	}
	if d.Detail != "" {
		s += " detail=" + strconv.Quote(d.Detail)
	}
	return s
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
