package filter

import (
	"slices"
	"strings"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter/token"
)

// Claim conditions: a service or a route may ask that a claim of the
// token equal a value, one of several, contain a value, or equal a
// parameter of the route's path (config.Condition). They are checked
// when the request is otherwise allowed; one that does not hold is 403
// condition_failed, and the log names the condition, never the value.

type condition struct {
	config.Condition
	extra int // the claim's index in token.Identity.Extra
}

// readClaims has the verifier read the claims the policy forwards and
// the conditions name, and keeps where each lands.
func (e *Engine) readClaims(cfg *config.Config) error {
	e.forwardExtra = make([]int, len(cfg.Identity.Forward))
	for i, f := range cfg.Identity.Forward {
		if f.Field != config.FieldClaim {
			continue
		}
		k, err := e.verifier.ReadAlso(f.Claim)
		if err != nil {
			return err
		}
		e.forwardExtra[i] = k
	}
	for _, c := range cfg.Conditions {
		k, err := e.verifier.ReadAlso(c.Claim)
		if err != nil {
			return err
		}
		if e.conditions == nil {
			e.conditions = map[scopeKey][]condition{}
		}
		key := scopeKey{c.Service, c.Line}
		e.conditions[key] = append(e.conditions[key], condition{c, k})
	}
	return nil
}

// conditioned turns an allowed decision whose service's or route's
// conditions do not hold into 403 condition_failed.
func (e *Engine) conditioned(d Decision, id *token.Identity, p *Pending) Decision {
	if e.conditions == nil || !d.Allow {
		return d
	}
	keys := []scopeKey{{d.Service, 0}}
	if d.RouteLine != 0 {
		keys = append(keys, scopeKey{d.Service, d.RouteLine})
	}
	for _, key := range keys {
		for _, c := range e.conditions[key] {
			if !c.holds(id, p) {
				out := into(d, deny(403, ReasonCondition))
				out.Detail = "condition " + c.String() + " does not hold"
				return out
			}
		}
	}
	return d
}

func (c *condition) holds(id *token.Identity, p *Pending) bool {
	v, list := "", false
	if id != nil && c.extra < len(id.Extra) {
		v, list = id.Extra[c.extra], id.ExtraList[c.extra]
	}
	if v == "" {
		return false // a missing claim holds no condition
	}
	if list && c.Contains == "" {
		return false // a list is not the one value a condition names
	}
	switch {
	case c.Param != "":
		rest := p.path
		if p.prefix != "/" {
			rest = p.path[len(p.prefix):]
		}
		segs := strings.Split(strings.TrimPrefix(rest, "/"), "/")
		return c.Segment < len(segs) && segs[c.Segment] == v
	case c.Contains != "":
		return slices.Contains(strings.Split(v, ","), c.Contains)
	}
	return slices.Contains(c.OneOf, v)
}
