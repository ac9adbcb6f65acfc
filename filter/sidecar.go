package filter

import (
	"regexp"
	"time"

	"github.com/keycard-gw/keycard/filter/token"
	"github.com/keycard-gw/keycard/state"
	"github.com/keycard-gw/keycard/table"
)

// Token state: the sidecar's answer about a token, cached, and the
// authorisation it completes.

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
	prefix      string // the mount prefix that selected the service
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
	e.finalize(&d)
	return d
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
	var roles table.RoleBits
	if len(id.Roles) > 0 {
		roles = e.roleBits(id.Roles)
	}
	need := e.tb.RoleSet(rule.RoleSet)
	levelOK := id.Level >= int(rule.Level)
	roleOK := need.Empty() || need.Intersects(roles)
	// Where no route matched (default: deny), no level is enough: only a
	// role permission or a per-user grant opens the path.
	if p.ruleMatched && levelOK && roleOK {
		e.allow(&d, ReasonOK, id, p)
		return d
	}
	e.grantHave, e.grantRefused = id.Scopes, grantRefusal{}
	granted := e.tb.GrantedIf(p.method, p.path, roles, e.acceptGrantF)
	e.grantHave = nil
	if granted {
		e.allow(&d, ReasonGranted, id, p)
		return d
	}
	if a != nil && e.patterns.any(a.Allow, p.path, false) {
		e.allow(&d, ReasonUserGranted, id, p)
		return d
	}
	if r := e.grantRefused; r.rule != nil {
		// A role permission covered the request but needs scopes the
		// token lacks: the challenge says which.
		insufficient(&d, r.rule, r.lacksAll, "role "+r.rule.Role+"'s permission "+r.rule.Route)
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

// allow lets d through for reason, unless the route's scopes or the
// service's and route's conditions refuse the token. (By pointer: each
// copy of a Decision inside wasm is a memory.copy.)
func (e *Engine) allow(d *Decision, reason string, id *token.Identity, p *Pending) {
	d.Allow, d.Reason = true, reason
	// The checks first, here: a policy without scopes or conditions
	// makes no call for them.
	if !e.scopes.empty() {
		e.scoped(d, id)
	}
	if !e.conditions.empty() {
		e.conditioned(d, id, p)
	}
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
