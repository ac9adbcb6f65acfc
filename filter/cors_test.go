package filter_test

import (
	"strings"
	"testing"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/internal/testing/tables"
)

// TestCORSRequests runs the shared cross-origin table natively: status,
// reason and the CORS response headers the decision carries.
func TestCORSRequests(t *testing.T) {
	res := example(t)
	e := engine(t, res)
	tables.RunCORS(t, res.Config, fixedNow, func(t *testing.T, c tables.CORSRequest) tables.CORSAnswer {
		d := e.Decide(&filter.Request{Method: c.Method, Authority: c.Host, Path: c.Path, Headers: filter.HeaderList(c.Headers)})
		if d.Pending != nil {
			d = e.Finish(d.Pending, nil, nil)
		}
		var resp [][2]string
		a := tables.CORSAnswer{Status: d.Status, Reason: d.Reason}
		switch {
		case d.Answered:
		case d.Allow:
			a.Status = 200
		default:
			resp = d.ResponseHeaders()
		}
		a.Header = tables.HeaderIn(append(resp, d.CORS...))
		return a
	})
}

// TestCORSOrigins: how an allowed origin is matched (exact, wildcard
// for one or more labels, port as written).
func TestCORSOrigins(t *testing.T) {
	res := example(t)
	cfg := *res.Config
	cfg.CORS = []config.CORS{{Origins: []string{"https://shop.example", "https://*.shop.example", "http://*.dev.example:8080"}}}
	e, err := filter.New(&cfg, res.Table, nil)
	if err != nil {
		t.Fatal(err)
	}
	for origin, want := range map[string]bool{
		"https://shop.example":          true,
		"https://a.shop.example":        true,
		"https://a.b.shop.example":      true,
		"https://.shop.example":         false,
		"https://evilshop.example":      false,
		"https://shop.example.evil.com": false,
		"http://shop.example":           false,
		"https://a.shop.example:8443":   false,
		"https://SHOP.example":          false,
		"http://x.dev.example:8080":     true,
		"http://x.dev.example":          false,
		"http://x:y@z.dev.example:8080": false,
		"null":                          false,
		"https://shop.example/":         false,
	} {
		d := e.Decide(&filter.Request{Method: "OPTIONS", Authority: "a.shop.example", Path: "/auth",
			Headers: filter.HeaderList{{"origin", origin}, {"access-control-request-method", "GET"}}})
		if got := d.Answered; got != want {
			t.Errorf("%s: answered %v (%d %s), want %v", origin, got, d.Status, d.Reason, want)
		}
	}
}

// TestForwardedPreflight: a service that opts in gets the preflight, but
// never with a body.
func TestForwardedPreflight(t *testing.T) {
	res := example(t)
	e := engine(t, res)
	h := filter.HeaderList{{"origin", "https://shop.example"}, {"access-control-request-method", "GET"}}
	if d := e.Decide(&filter.Request{Method: "OPTIONS", Authority: "b.shop.example", Path: "/auth", Headers: h}); !d.Allow || d.Reason != filter.ReasonPreflight {
		t.Errorf("forwarded preflight: %+v", d)
	}
	for _, body := range [][2]string{{"content-length", "5"}, {"transfer-encoding", "chunked"}} {
		d := e.Decide(&filter.Request{Method: "OPTIONS", Authority: "b.shop.example", Path: "/auth", Headers: append(h[:2:2], body)})
		if d.Allow || d.Status != 400 || !strings.Contains(d.Detail, "no body") {
			t.Errorf("with %s: %d %s %s", body[0], d.Status, d.Reason, d.Detail)
		}
	}
}
