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

type scopeKey struct {
	service string
	line    int
}

func scopeRules(cfg *config.Config) map[scopeKey]*config.Scopes {
	if len(cfg.Scopes) == 0 {
		return nil
	}
	m := make(map[scopeKey]*config.Scopes, len(cfg.Scopes))
	for i := range cfg.Scopes {
		s := &cfg.Scopes[i]
		m[scopeKey{s.Service, s.Line}] = s
	}
	return m
}

// scoped turns an allowed decision on a route that needs scopes the
// token lacks into 403 insufficient_scope, naming the scopes needed.
func (e *Engine) scoped(d Decision, id *token.Identity) Decision {
	if e.scopes == nil || d.RouteLine == 0 {
		return d
	}
	rule, ok := e.scopes[scopeKey{d.Service, d.RouteLine}]
	if !ok {
		return d
	}
	var have []string
	if id != nil {
		have = id.Scopes
	}
	missing := slices.ContainsFunc(rule.All, func(s string) bool { return !slices.Contains(have, s) })
	if !missing && (len(rule.Any) == 0 || slices.ContainsFunc(rule.Any, func(s string) bool { return slices.Contains(have, s) })) {
		return d
	}
	out := into(d, deny(403, ReasonScope))
	need := rule.All
	if missing || len(rule.Any) == 0 {
		out.Scope = strings.Join(need, " ")
	} else {
		out.Scope = strings.Join(rule.Any, " ")
	}
	out.Detail = "the route needs scopes " + describeScopes(rule)
	return out
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
