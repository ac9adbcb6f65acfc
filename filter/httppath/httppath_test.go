package httppath

import (
	"strings"
	"testing"
)

func TestPath(t *testing.T) {
	tests := []struct {
		name, raw, want string
		err             error
		opts            Options
	}{
		{name: "root", raw: "/", want: "/"},
		{name: "plain", raw: "/a/auth", want: "/a/auth"},
		{name: "query", raw: "/a/auth?x=1&y=/..", want: "/a/auth"},
		{name: "fragment", raw: "/a/admin#x", err: ErrFragment},
		{name: "fragment hiding dots", raw: "/#/../auth", err: ErrFragment},
		{name: "fragment lenient", raw: "/health#/../admin", want: "/health", opts: Options{Lenient: true}},
		{name: "query before a #", raw: "/a/auth?x=#y", want: "/a/auth"},
		{name: "trailing slash kept", raw: "/a/admin/", want: "/a/admin/"},
		{name: "repeated slashes", raw: "/a//admin", want: "/a/admin"},
		{name: "many slashes", raw: "///a///admin//", want: "/a/admin/"},
		{name: "dot dot", raw: "/a/public/../admin", want: "/a/admin"},
		{name: "dot", raw: "/a/./admin", want: "/a/admin"},
		{name: "dot dot above root", raw: "/../../a", want: "/a"},
		{name: "trailing dot dot", raw: "/a/b/..", want: "/a/"},
		{name: "only dots", raw: "/./..", want: "/"},
		{name: "escaped letter", raw: "/a/%61dmin", want: "/a/admin"},
		{name: "escaped dots", raw: "/a/public/%2e%2e/admin", err: ErrEncodedDot},
		{name: "one escaped dot of two", raw: "/admin/.%2e", err: ErrEncodedDot},
		{name: "escaped single dot", raw: "/a/%2E/admin", err: ErrEncodedDot},
		{name: "escaped dots lenient", raw: "/a/public/%2e%2e/admin", want: "/a/admin", opts: Options{Lenient: true}},
		{name: "escaped dot inside a name", raw: "/a/file%2etxt", want: "/a/file.txt"},
		{name: "dot dot after double slash", raw: "/auth//..", err: ErrAmbiguousDots},
		{name: "dot dot after double slash and dot", raw: "/auth//./..", err: ErrAmbiguousDots},
		{name: "dot dots after triple slash", raw: "/auth///../..", err: ErrAmbiguousDots},
		{name: "escaped dot dot after double slash", raw: "/auth//%2e%2e", err: ErrEncodedDot},
		{name: "dot dot after a leading double slash", raw: "//../admin", err: ErrAmbiguousDots},
		{name: "dot dot later after double slash", raw: "/a//b/c/..", err: ErrAmbiguousDots},
		{name: "dot dot after double slash lenient", raw: "/auth//..", want: "/", opts: Options{Lenient: true}},
		{name: "double slash after dot dot", raw: "/a/b/..//c", want: "/a/c"},
		{name: "utf8", raw: "/a/caf%C3%A9", want: "/a/café"},
		{name: "upper case kept", raw: "/a/ADMIN", want: "/a/ADMIN"},
		{name: "encoded slash", raw: "/a/admin%2F..", err: ErrEncodedSlash},
		{name: "encoded slash allowed", raw: "/a/x%2Fy", want: "/a/x/y", opts: Options{AllowEncodedSlash: true}},
		{name: "encoded backslash", raw: "/a/admin%5c..", err: ErrEncodedSlash},
		{name: "nul", raw: "/a/admin%00", err: ErrNul},
		{name: "nul even when slashes allowed", raw: "/a/%00", err: ErrNul, opts: Options{AllowEncodedSlash: true}},
		{name: "backslash", raw: "/a\\admin", err: ErrBackslash},
		{name: "semicolon", raw: "/a/admin;x=1", err: ErrSemicolon},
		{name: "encoded semicolon", raw: "/a/admin%3bx=1", err: ErrSemicolon},
		{name: "double encoding", raw: "/a/%2561dmin", err: ErrDoubleEncoding},
		{name: "double encoded dots", raw: "/a/%252e%252e/admin", err: ErrDoubleEncoding},
		{name: "bad escape", raw: "/a/%zz", err: ErrBadEscape},
		{name: "short escape", raw: "/a/%4", err: ErrBadEscape},
		{name: "lone percent", raw: "/a/%", err: ErrBadEscape},
		{name: "encoded control", raw: "/a/%0a", err: ErrControl},
		{name: "raw space", raw: "/a /b", err: ErrControl},
		{name: "relative", raw: "a/b", err: ErrNotAbsolute},
		{name: "asterisk", raw: "*", err: ErrNotAbsolute},
		{name: "empty", raw: "", err: ErrNotAbsolute},
		{name: "too long", raw: "/" + strings.Repeat("a", MaxPath), err: ErrTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Path(tc.raw, tc.opts)
			if err != tc.err || got != tc.want {
				t.Errorf("Path(%q) = %q, %v; want %q, %v", tc.raw, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestPathNoAllocWhenClean(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = Path("/a/admin/users/42?x=1", Options{}) }); n != 0 {
		t.Errorf("allocs = %v, want 0", n)
	}
}

func TestHost(t *testing.T) {
	tests := []struct {
		raw, want string
		err       error
	}{
		{"a.shop.example", "a.shop.example", nil},
		{"A.Shop.Example", "a.shop.example", nil},
		{"a.shop.example:8443", "a.shop.example", nil},
		{"a.shop.example.", "a.shop.example", nil},
		{"a.shop.example.:80", "a.shop.example", nil},
		{"[::1]:8000", "[::1]", nil},
		{"127.0.0.1:80", "127.0.0.1", nil},
		{"", "", ErrBadHost},
		{"a.shop.example:", "", ErrBadHost},
		{"a.shop.example:x", "", ErrBadHost},
		{"a/b", "", ErrBadHost},
		{"[::1", "", ErrBadHost},
		{"a b", "", ErrBadHost},
	}
	for _, tc := range tests {
		got, err := Host(tc.raw)
		if got != tc.want || err != tc.err {
			t.Errorf("Host(%q) = %q, %v; want %q, %v", tc.raw, got, err, tc.want, tc.err)
		}
	}
}

func TestMethod(t *testing.T) {
	for _, m := range []string{"GET", "PROPFIND", "M-SEARCH"} {
		if err := Method(m); err != nil {
			t.Errorf("Method(%q) = %v", m, err)
		}
	}
	for _, m := range []string{"", "get", "Get", "GET ", "G\x00T"} {
		if err := Method(m); err != ErrBadMethod {
			t.Errorf("Method(%q) = %v, want ErrBadMethod", m, err)
		}
	}
}

func FuzzPath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "/a/%2e%2e/b", "/%00", "//a//b/", "/a%2Fb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := Path(raw, Options{})
		if err != nil {
			return
		}
		if !strings.HasPrefix(got, "/") || strings.Contains(got, "//") || strings.Contains(got, "/../") || strings.HasSuffix(got, "/..") || strings.Contains(got, "/./") {
			t.Fatalf("Path(%q) = %q: not normal", raw, got)
		}
	})
}
