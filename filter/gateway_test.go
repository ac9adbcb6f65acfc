package filter_test

import (
	"strings"
	"testing"

	"github.com/keycard-gw/keycard/filter"
)

func TestOriginTarget(t *testing.T) {
	for _, tc := range []struct {
		line, want string
		ok         bool
	}{
		{"GET /a?b HTTP/1.1", "/a?b", true},
		{"GET  /a   HTTP/1.0", "/a", true},
		{"GET /a HTTP/1.1 ", "/a", true},
		{"POST /%2e%2e/admin%2Fx HTTP/2.0", "/%2e%2e/admin%2Fx", true},
		{"GET /a", "/a", true}, // HTTP/0.9
		{"GET http://b.example/x HTTP/1.1", "", false},
		{"GET HTTP://b.example/x HTTP/1.1", "", false},
		{"OPTIONS * HTTP/1.1", "", false},
		{"CONNECT a.example:443 HTTP/1.1", "", false},
		{"GET /a b HTTP/1.1", "", false},
		{"GET /a\tHTTP/1.1", "", false},
		{"GET /a\x00 HTTP/1.1", "", false},
		{"GET /a HTTP/1.1x", "", false},
		{"GET /a HTTP/", "", false},
		{"GET /a FTP/1.1", "", false},
		{" /a HTTP/1.1", "", false},
		{"GET", "", false},
		{"", "", false},
	} {
		got, ok := filter.OriginTarget(tc.line)
		if got != tc.want || ok != tc.ok {
			t.Errorf("OriginTarget(%q) = %q, %v; want %q, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzOriginTarget: a target it accepts is part of the line, starts
// with "/" and holds no space or control byte.
func FuzzOriginTarget(f *testing.F) {
	for _, s := range []string{"GET /a?b HTTP/1.1", "GET http://x/ HTTP/1.1", "GET /a", "OPTIONS * HTTP/1.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		target, ok := filter.OriginTarget(line)
		if !ok {
			return
		}
		if !strings.HasPrefix(target, "/") || !strings.Contains(line, target) || strings.IndexFunc(target, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			t.Fatalf("OriginTarget(%q) = %q", line, target)
		}
	})
}

// TestPropertyPath: the path goes to proxy_get_property with its parts
// joined by NUL, and logs read it dotted.
func TestPropertyPath(t *testing.T) {
	p := filter.PropertyPath("ngx", "request_line")
	if string(p) != "ngx\x00request_line" || p.String() != "ngx.request_line" {
		t.Errorf("PropertyPath: %q, %q", string(p), p.String())
	}
	kong, _ := filter.GatewayOf("kong")
	for _, p := range []filter.Property{kong.TargetProperty, kong.RouteHostProperty, kong.RequestLineProperty} {
		if got := filter.PropertyPath(strings.Split(p.String(), ".")...); got != p {
			t.Errorf("Kong's %q is not its parts joined by NUL", p)
		}
	}
}
