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
	e.forwards = make([]forwarded, len(cfg.Identity.Forward))
	for i, f := range cfg.Identity.Forward {
		e.forwards[i].field = forwardFields[f.Field] // decoding refused other names
		if f.Field != config.FieldClaim {
			continue
		}
		k, err := e.verifier.ReadAlso(f.Claim)
		if err != nil {
			return err
		}
		e.forwards[i].extra = k
	}
	for _, c := range cfg.Conditions {
		k, err := e.verifier.ReadAlso(c.Claim)
		if err != nil {
			return err
		}
		e.conditions.add(c.Line, condition{c, k})
	}
	return nil
}

// conditioned turns an allowed decision whose service's or route's
// conditions do not hold into 403 condition_failed.
// Its caller, allow, calls it only where the policy has conditions.
func (e *Engine) conditioned(d *Decision, id *token.Identity, p *Pending) {
	if !d.Allow {
		return
	}
	for _, line := range [2]int{0, d.RouteLine} { // the service's, then the route's
		cs := e.conditions.at(line)
		for i := range cs {
			if cs[i].Service == d.Service && !cs[i].holds(id, p) {
				detail := "condition " + cs[i].String() + " does not hold"
				*d = into(*d, deny(403, ReasonCondition))
				d.Detail = detail
				return
			}
		}
		if d.RouteLine == 0 {
			break // no route: the service's only
		}
	}
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
		return segment(rest, c.Segment) == v
	case c.Contains != "":
		for item := range strings.SplitSeq(v, ",") {
			if item == c.Contains {
				return true
			}
		}
		return false
	}
	return slices.Contains(c.OneOf, v)
}

// segment is path's i-th segment (from 0, after the leading slash), or
// "" when it has fewer.
func segment(path string, i int) string {
	path = strings.TrimPrefix(path, "/")
	for ; i > 0; i-- {
		j := strings.IndexByte(path, '/')
		if j < 0 {
			return ""
		}
		path = path[j+1:]
	}
	if j := strings.IndexByte(path, '/'); j >= 0 {
		return path[:j]
	}
	return path
}
