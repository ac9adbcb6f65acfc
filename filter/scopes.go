package filter

import (
	"slices"
	"strings"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter/token"
	"github.com/keycard-gw/keycard/table"
)

// Scopes: a route may need OAuth scopes (config.Scopes, by the route's
// line), checked when the request is otherwise allowed, however it was
// (level, role permission, a per-user grant): the scopes are the
// route's, not the caller's way in. A role permission may need scopes
// too: then it grants only to a token that has them.

// scopeRules indexes the routes' rules by route line (an int key:
// hashing the service's name on every request costs more inside wasm
// than the check itself); a line's rules are told apart by service. The
// role permissions' rules go to grantScopes.
func scopeRules(cfg *config.Config) byLine[*config.Scopes] {
	var b byLine[*config.Scopes]
	for i := range cfg.Scopes {
		if s := &cfg.Scopes[i]; s.Role == "" {
			b.add(s.Line, s)
		}
	}
	return b
}

// grantScope is a role permission's scopes and the role's index.
type grantScope struct {
	rule *config.Scopes
	role int
}

// grantScopes indexes the role permissions' rules by line: a role is
// defined in one file, and the compiler refuses a scoped permission
// that shares its line with another of its role, so a line and a role
// name one permission.
func grantScopes(cfg *config.Config, roleIndex func(string) int) byLine[grantScope] {
	var b byLine[grantScope]
	for i := range cfg.Scopes {
		if s := &cfg.Scopes[i]; s.Role != "" {
			b.add(s.Line, grantScope{s, roleIndex(s.Role)})
		}
	}
	return b
}

// grantRefusal is the first role permission acceptGrant refused, and
// whether the token lacked one of its All scopes.
type grantRefusal struct {
	rule     *config.Scopes
	lacksAll bool
}

// acceptGrant is the filter GrantedIf applies: a role permission that
// needs scopes grants only when the token being authorized
// (e.grantHave) has them; the first one refused is kept in
// e.grantRefused, to name the scopes in the denial.
func (e *Engine) acceptGrant(r table.Rule) bool {
	for _, g := range e.grantScopes.at(int(r.Line)) {
		if g.role < 0 || !e.tb.RoleSet(r.RoleSet).Has(g.role) {
			continue
		}
		if lacking, all := lacks(g.rule, e.grantHave); lacking {
			if e.grantRefused.rule == nil {
				e.grantRefused = grantRefusal{g.rule, all}
			}
			return false
		}
	}
	return true
}

// lacks reports whether scopes held (have) miss what rule needs, and
// whether one of rule.All is among them (else only one of rule.Any was
// wanted).
func lacks(rule *config.Scopes, have []string) (lacking, lacksAll bool) {
	for _, s := range rule.All {
		if !slices.Contains(have, s) {
			return true, true
		}
	}
	if len(rule.Any) == 0 {
		return false, false
	}
	for _, s := range rule.Any {
		if slices.Contains(have, s) {
			return false, false
		}
	}
	return true, false
}

// insufficient turns d into 403 insufficient_scope for rule (what names
// the rule's owner in the log), the challenge naming All when one of
// them was missing, else Any.
func insufficient(d *Decision, rule *config.Scopes, lacksAll bool, what string) {
	*d = into(*d, deny(403, ReasonScope))
	if lacksAll || len(rule.Any) == 0 {
		d.Scope = strings.Join(rule.All, " ")
	} else {
		d.Scope = strings.Join(rule.Any, " ")
	}
	d.Detail = what + " needs scopes " + describeScopes(rule)
}

// scoped turns an allowed decision on a route that needs scopes the
// token lacks into 403 insufficient_scope, naming the scopes needed.
// Its caller, allow, calls it only where the policy has scopes.
func (e *Engine) scoped(d *Decision, id *token.Identity) {
	if d.RouteLine == 0 {
		return
	}
	var rule *config.Scopes
	for _, r := range e.scopes.at(d.RouteLine) {
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
	if lacking, all := lacks(rule, have); lacking {
		insufficient(d, rule, all, "the route")
	}
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
