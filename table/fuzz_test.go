package table

import (
	"errors"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode, both as a whole table and as
// content under a valid header (so the fuzzer gets past the hash check).
// Decode must return a table or an error wrapping one of the sentinels;
// a table it returns must answer lookups without panicking.
func FuzzDecode(f *testing.F) {
	good := mustBuild(f, exampleSpec()).Encode()
	f.Add(good)
	f.Add(good[headerSize:])
	f.Add([]byte{})
	f.Add([]byte("KCDT"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, seal(data)} {
			tb, err := Decode(in)
			if err != nil {
				if !errors.Is(err, ErrBadMagic) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error wraps no sentinel: %v", err)
				}
				continue
			}
			var all RoleBits
			for i := range all {
				all[i] = ^uint64(0)
			}
			for _, host := range []string{"a.shop.example", "api.shop.example", "x.b.example", ""} {
				for _, p := range []string{"/", "/a", "/a/b/c", "/admin/x", "/a/tickets/1"} {
					m := tb.Lookup(host, "GET", p)
					if m.Rule >= 0 {
						_ = tb.Rule(m.Rule)
					}
					tb.Granted("GET", p, all)
				}
			}
			_ = tb.Dump()
		}
	})
}
