package filter

import (
	"strconv"
	"testing"

	"github.com/keycard-gw/keycard/config"
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

// TestLevelText: a level reads as strconv.Itoa writes it.
func TestLevelText(t *testing.T) {
	for _, l := range []int{-10, -1, 0, 1, 5, 9, 10, 42, 1 << 40} {
		if got, want := levelText(l), strconv.Itoa(l); got != want {
			t.Errorf("levelText(%d) = %q, want %q", l, got, want)
		}
	}
}
