package headermap

import (
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, pairs := range [][][2]string{nil, {{":path", "/a"}}, {{"a", ""}, {"", "b"}, {"x-auth", "1,2"}}} {
		got, ok := Decode(Encode(pairs))
		if !ok || len(got) != len(pairs) || (len(pairs) > 0 && !reflect.DeepEqual(got, pairs)) {
			t.Errorf("%v -> %v %v", pairs, got, ok)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode([][2]string{{"a", "b"}}))
	f.Add([]byte{1, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		pairs, ok := Decode(b)
		if ok && len(b) > 0 {
			if again := Encode(pairs); string(again) != string(b) {
				t.Fatalf("decode+encode changed %x to %x", b, again)
			}
		}
	})
}

// FuzzIndex holds the in-place reader to Decode: on a well-formed map
// it finds the same pairs, and its lookups answer as a scan of them does.
func FuzzIndex(f *testing.F) {
	f.Add(Encode([][2]string{{"a", "b"}}))
	f.Add(Encode([][2]string{{":authority", "a.example"}, {"Host", "x"}, {"host", "y"}, {"x-long-name-" + strings.Repeat("n", 70), "v"}}))
	f.Add([]byte{1, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0})
	f.Add([]byte{2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 'a', 0, 'b', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var x Index
		x.Reset(string(b))
		var got [][2]string
		x.Each(func(k, v string) { got = append(got, [2]string{k, v}) })
		if x.Len() != len(got) {
			t.Fatalf("Len %d, Each gave %d", x.Len(), len(got))
		}
		if want, ok := Decode(b); ok && !reflect.DeepEqual(got, want) && len(want)+len(got) > 0 {
			t.Fatalf("Index read %q, Decode %q", got, want)
		}
		names := []string{"a", "host", ":authority", "x-long-name-" + strings.Repeat("n", 70)}
		for _, set := range [][]string{nil, {"host"}, names, {"a", strings.Repeat("n", 63)}, {"x_auth-1", ":path"}} {
			var s NameSet
			for _, n := range set {
				s.Add(n)
			}
			var walked, want [][2]string
			x.EachIn(&s, func(k, v string) { walked = append(walked, [2]string{k, v}) })
			for _, kv := range got {
				if s.May(kv[0]) {
					want = append(want, kv)
				}
			}
			if !reflect.DeepEqual(walked, want) {
				t.Fatalf("EachIn(%q) gave %q, want %q", set, walked, want)
			}
		}
		for _, kv := range got {
			if isASCII(kv[0]) { // the names asked for are HTTP tokens
				names = append(names, strings.ToLower(kv[0]))
			}
		}
		for _, name := range names {
			var vals []string
			for _, kv := range got {
				if strings.EqualFold(kv[0], name) && len(kv[0]) == len(name) {
					vals = append(vals, kv[1])
				}
			}
			if v := x.Values(name); !reflect.DeepEqual(v, vals) {
				t.Fatalf("Values(%q) = %q, want %q", name, v, vals)
			}
			var next []string
			for v, at := x.Next(name, 0); at >= 0; v, at = x.Next(name, at+1) {
				if !EqualName(got[at][0], name) || got[at][1] != v {
					t.Fatalf("Next(%q) = %q at %d, where the pair is %q", name, v, at, got[at])
				}
				next = append(next, v)
			}
			if !reflect.DeepEqual(next, vals) {
				t.Fatalf("Next(%q) one after the other gave %q, want %q", name, next, vals)
			}
		}
	})
}

// TestEqualName: EqualName is strings.EqualFold for names of one
// length, and false for names of two.
func TestEqualName(t *testing.T) {
	for _, tc := range [][2]string{{"host", "host"}, {"Host", "host"}, {"HOST", "host"}, {"hosT", "host"}, {"h0st", "host"},
		{"x-a", "x-a"}, {"X-A", "x-a"}, {"x_a", "x-a"}, {"x\x0da", "x-a"}, {"@", "`"}, {"[", "{"}, {"\xc5\xbf", "ss"}, {"\xe2\x84\xaa", "kkk"},
		{"authorization", "authorization"}, {"Authorization", "authorization"}, {"authorizatioN", "authorization"},
		{"authorizatiom", "authorization"}, {"x-forwarded-for", "x-forwarded-for"}, {"X-FORWARDED-FOR", "x-forwarded-for"},
		{"x-forwardeD-for", "x-forwarded-for"}, {"x-forwarded_for", "x-forwarded-for"}, {"x-forwarded-for2", "x-forwarded-for2"},
		{"x-forwarded-fo\x00", "x-forwarded-for"}} {
		if got, want := EqualName(tc[0], tc[1]), strings.EqualFold(tc[0], tc[1]); got != want {
			t.Errorf("EqualName(%q, %q) = %v, want %v", tc[0], tc[1], got, want)
		}
	}
	for _, tc := range [][2]string{{"\xe2\x84\xaa", "k"}, {"coo\xe2\x84\xaaie", "cookie"}, {"hosts", "host"}} {
		if EqualName(tc[0], tc[1]) {
			t.Errorf("EqualName(%q, %q): names of two lengths", tc[0], tc[1])
		}
	}
}

// TestNameSet: a set may hold every spelling of its names (any case,
// "_" for "-"), and holds no name that differs from all of them in
// length or in its last byte's class.
func TestNameSet(t *testing.T) {
	var s NameSet
	for _, n := range []string{"x-auth-sub", "x-auth-level", "x-forwarded-uri", "x-rewrite-url", "x-id-2", "x.a~", strings.Repeat("n", 70)} {
		s.Add(n)
	}
	s.Add("") // ignored
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"x-auth-sub", true}, {"X-AUTH-SUB", true}, {"x_auth_sub", true}, {"X_Auth_Sub", true},
		{"x-auth-level", true}, {"X-Forwarded-URI", true}, {"x-rewrite-url", true}, {"x-id-2", true}, {"x-id-7", true},
		{"x.a~", true}, {"x.a~~", false}, {"x.a|", false}, {"x.a^", true}, // other bytes: four classes
		{"user-agent", false},      // x-auth-sub's length, another last byte
		{"x-request-id", false},    // x-auth-level's length
		{"authorization", false},   // x-rewrite-url's length
		{"x-forwarded-for", false}, // x-forwarded-uri's length
		{"", false}, {"b", false}, {strings.Repeat("x", 63), false}, {strings.Repeat("n", 63), true}, {strings.Repeat("N", 900), true},
	} {
		if got := s.May(tc.name); got != tc.want {
			t.Errorf("May(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
