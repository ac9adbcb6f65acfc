package config

import (
	"fmt"
	"testing"
)

func TestParseClaimPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"sub", "[sub]"},
		{"realm_access.roles", "[realm_access roles]"},
		{`resource_access."shop-api".roles`, "[resource_access shop-api roles]"},
		{`"https://shop.example/roles"`, "[https://shop.example/roles]"},
		{`"a\"b".c`, `[a"b c]`},
		{"a..b", `error: claim path "a..b": an empty name`},
		{"a.", `error: claim path "a.": names are separated by single dots`},
		{`"open`, `error: claim path "\"open": a quote is not closed`},
		{"a b", `error: claim path "a b": quote a name with spaces`},
		{"a.b.c.d.e.f.g.h.i", `error: claim path "a.b.c.d.e.f.g.h.i": more than 8 names`},
	} {
		segs, err := ParseClaimPath(tc.in)
		got := fmt.Sprint(segs)
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != tc.want {
			t.Errorf("%q: got %s, want %s", tc.in, got, tc.want)
		}
	}
}
