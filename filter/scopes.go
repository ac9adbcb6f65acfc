package filter

import (
	"slices"
	"strings"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter/token"
)

// Scopes: a route may need OAuth scopes (config.Scopes, by the route's
// line), checked when the request is otherwise allowed, however it was
// (level, role permission, a per-user grant): the scopes are the
// route's, not the caller's way in.

// scopeRules indexes the rules by route line (an int key: hashing the
// service's name on every request costs more inside wasm than the check
// itself); a line's rules are told apart by service.
func scopeRules(cfg *config.Config) map[int][]*config.Scopes {
	if len(cfg.Scopes) == 0 {
		return nil
	}
	m := make(map[int][]*config.Scopes, len(cfg.Scopes))
	for i := range cfg.Scopes {
		s := &cfg.Scopes[i]
		m[s.Line] = append(m[s.Line], s)
	}
	return m
}

// scoped turns an allowed decision on a route that needs scopes the
// token lacks into 403 insufficient_scope, naming the scopes needed.
func (e *Engine) scoped(d *Decision, id *token.Identity) {
	if e.scopes == nil || d.RouteLine == 0 {
		return
	}
	var rule *config.Scopes
	for _, r := range e.scopes[d.RouteLine] {
		if r.Service == d.Service {
			rule = r
		}
	}
	if rule == nil {
		return
	}
	var have []string
	if id != nil {
		have = id.Scopes
	}
	missing := false
	for _, s := range rule.All {
		missing = missing || !slices.Contains(have, s)
	}
	anyOK := len(rule.Any) == 0
	for _, s := range rule.Any {
		anyOK = anyOK || slices.Contains(have, s)
	}
	if !missing && anyOK {
		return
	}
	*d = into(*d, deny(403, ReasonScope))
	if missing || len(rule.Any) == 0 {
		d.Scope = strings.Join(rule.All, " ")
	} else {
		d.Scope = strings.Join(rule.Any, " ")
	}
	d.Detail = "the route needs scopes " + describeScopes(rule)
}

func describeScopes(r *config.Scopes) string {
	s := strings.Join(r.All, " ")
	if len(r.Any) > 0 {
		if s != "" {
			s += " and "
		}
		s += "one of " + strings.Join(r.Any, " ")
	}
	return s
}
