package filter

import (
	"slices"
	"testing"
)

// TestByLine: rules come back from the line they were added on, in
// order, and from no other line, across the bitset's word edges.
func TestByLine(t *testing.T) {
	var b byLine[string]
	if !b.empty() || b.at(0) != nil || b.at(5) != nil {
		t.Fatal("a new byLine holds rules")
	}
	added := map[int][]string{0: {"svc"}, 63: {"a"}, 64: {"b", "c"}, 1000: {"d"}}
	for _, line := range []int{0, 63, 64, 1000} {
		for _, r := range added[line] {
			b.add(line, r)
		}
	}
	b.add(-1, "never found")
	if b.empty() {
		t.Fatal("empty after add")
	}
	for line := -2; line <= 1100; line++ {
		if got := b.at(line); !slices.Equal(got, added[line]) {
			t.Errorf("at(%d) = %q, want %q", line, got, added[line])
		}
	}
}
