package filter_test

import (
	"slices"
	"testing"

	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/filter/abi/headermap"
)

// TestHeaderListReadsAsTheHostMap: a header list held in Go memory (a
// native decision's, a waiting request's copy) answers every lookup as
// the module's reading of the host's map answers it, so a request
// decided natively or decided again finds the same headers.
func TestHeaderListReadsAsTheHostMap(t *testing.T) {
	pairs := [][2]string{
		{"Host", "a.example"}, {"host", "b.example"}, {"Coo\u212aie", "kelvin"}, {"cookie", "c=1"},
		{"\u017fet-cookie", "long s"}, {"Authorization", "Bearer x"}, {"X_Auth_Sub", "u"}, {"x-auth-sub", "v"},
	}
	list := filter.HeaderList(pairs)
	var index headermap.Index
	index.Reset(string(headermap.Encode(pairs)))
	for _, name := range []string{"host", "cookie", "set-cookie", "authorization", "x-auth-sub", "x_auth_sub", "origin"} {
		if got, want := list.Values(name), index.Values(name); !slices.Equal(got, want) {
			t.Errorf("Values(%q): list %q, host map %q", name, got, want)
		}
		for from := -1; from <= len(pairs); from++ {
			gv, gat := list.Next(name, from)
			wv, wat := index.Next(name, from)
			if gv != wv || gat != wat {
				t.Errorf("Next(%q, %d): list %q at %d, host map %q at %d", name, from, gv, gat, wv, wat)
			}
		}
	}
	if v, _ := list.Get("cookie"); v != "c=1" {
		t.Errorf("cookie: %q, want the cookie header, not a name that folds to it", v)
	}
}
