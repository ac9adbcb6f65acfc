package filter

import (
	"strconv"
	"testing"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter/token"
)

// TestForwardFields: every field a configuration may forward is read
// into its kind; one left out would forward nothing, silently.
func TestForwardFields(t *testing.T) {
	for _, f := range append([]string{config.FieldClaim}, config.Fields...) {
		if forwardFields[f] == forwardNothing {
			t.Errorf("identity field %q has no forwardField", f)
		}
	}
	if len(forwardFields) != len(config.Fields)+1 {
		t.Errorf("%d forwardFields for %d fields and claims", len(forwardFields), len(config.Fields))
	}
}

// TestForwardLevel: a level's header reads as strconv.Itoa writes it,
// the one-digit levels written without it included.
func TestForwardLevel(t *testing.T) {
	e := &Engine{forwards: []forwarded{{field: forwardLevel}}, remove: []string{"x-auth-level"}}
	for _, l := range []int{-1, 0, 1, 9, 10, 42, 1 << 40} {
		got := e.forward(&token.Identity{Level: l})
		if len(got) != 1 || got[0] != [2]string{"x-auth-level", strconv.Itoa(l)} {
			t.Errorf("level %d forwarded as %q", l, got)
		}
	}
}
