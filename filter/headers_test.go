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
		for i := range 3 {
			gv, gok := list.Nth(name, i)
			wv, wok := index.Nth(name, i)
			if gv != wv || gok != wok {
				t.Errorf("Nth(%q, %d): list %q %v, host map %q %v", name, i, gv, gok, wv, wok)
			}
		}
	}
	if v, _ := list.Get("cookie"); v != "c=1" {
		t.Errorf("cookie: %q, want the cookie header, not a name that folds to it", v)
	}
}
