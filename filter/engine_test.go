package filter_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/filter/httppath"
	"github.com/keycard-gw/keycard/internal/policycases"
	"github.com/keycard-gw/keycard/internal/testing/tables"
)

func example(t testing.TB) *compiler.Result {
	t.Helper()
	return tables.Example(t, tables.Policies(".."))
}

var fixedNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func engine(t testing.TB, res *compiler.Result) *filter.Engine {
	return gatewayEngine(t, res, res.Config.Gateway, func() time.Time { return fixedNow })
}

// gatewayEngine is the engine of res's configuration for a gateway.
func gatewayEngine(t testing.TB, res *compiler.Result, gateway string, now func() time.Time) *filter.Engine {
	t.Helper()
	cfg := *res.Config
	cfg.Gateway = gateway
	e, err := filter.New(&cfg, res.Table, now)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// bothGateways runs f as a subtest per gateway, named for it.
func bothGateways(t *testing.T, f func(t *testing.T, gateway string)) {
	for _, gateway := range []string{config.GatewayEnvoy, config.GatewayKong} {
		t.Run(gateway, func(t *testing.T) { f(t, gateway) })
	}
}

func TestExampleCases(t *testing.T) {
	res := example(t)
	files, _ := policycases.Files([]string{filepath.Join("..", "policies")})
	cases, err := policycases.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range policycases.Run(cases, res.Config, policycases.Native(engine(t, res), policycases.Static), fixedNow) {
		t.Error(f)
	}
}

func TestAttacks(t *testing.T) {
	res := example(t)
	e := engine(t, res)
	for _, a := range tables.Attacks(res.Config, fixedNow) {
		t.Run(a.Name, func(t *testing.T) {
			method, host, path := a.Request()
			d := decide(e, &filter.Request{Method: method, Authority: host, Path: path, Headers: filter.HeaderList(a.Headers)})
			got := policycases.OutcomeOf(&d)
			if got.Status != a.Status || got.Reason != a.Reason {
				t.Errorf("got %d %s, want %d %s", got.Status, got.Reason, a.Status, a.Reason)
			}
			for _, kv := range d.Set {
				for _, c := range kv[1] {
					if c == '\r' || c == '\n' {
						t.Errorf("header %s carries a line break", kv[0])
					}
				}
			}
		})
	}
}

func TestResponse(t *testing.T) {
	e := engine(t, example(t))
	d := decide(e, &filter.Request{Method: "GET", Authority: "a.shop.example", Path: "/auth", Headers: filter.HeaderList(nil)})
	if got, want := string(d.Body()), `{"code":401,"success":false,"data":"","msg":"UnAuthorized","reason":"no_token"}`; got != want {
		t.Errorf("body %s, want %s", got, want)
	}
	h := d.ResponseHeaders()
	if h[len(h)-1] != [2]string{"www-authenticate", "Bearer"} {
		t.Errorf("headers %v", h)
	}
	d = decide(e, &filter.Request{Method: "GET", Authority: "a.shop.example", Path: "/auth", Headers: filter.HeaderList{{"authorization", "Bearer x.y.z"}}})
	h = d.ResponseHeaders()
	if h[len(h)-1] != [2]string{"www-authenticate", `Bearer error="invalid_token"`} {
		t.Errorf("headers %v", h)
	}
	want := []string{"x-auth-level", "x-auth-phone", "x-auth-roles", "x-original-url", "x-original-uri", "x-rewrite-url", "x-forwarded-uri", "x-forwarded-path", "x-forwarded-prefix", "x-http-method-override", "x-http-method", "x-method-override"}
	if !slices.Equal(d.Remove, want) {
		t.Errorf("remove %v, want %v", d.Remove, want)
	}
}

func TestTokenCache(t *testing.T) {
	res := example(t)
	now := fixedNow
	e, _ := filter.New(res.Config, res.Table, func() time.Time { return now })
	attacks := tables.Attacks(res.Config, now)
	req := &filter.Request{Method: "GET", Authority: "a.shop.example", Path: "/auth", Headers: filter.HeaderList(attacks[0].Headers)}
	if d := decide(e, req); !d.Allow {
		t.Fatal(d)
	}
	if e.Verifier().CacheLen() != 1 {
		t.Fatalf("cache has %d entries", e.Verifier().CacheLen())
	}
	now = now.Add(2 * time.Hour) // past exp + leeway: the cached entry must not serve
	if d := decide(e, req); d.Allow || d.Reason != filter.ReasonExpiredToken {
		t.Fatalf("after expiry: %v", d)
	}
}

// BenchmarkDecide runs natively and, with GOOS=wasip1 (make bench-wasm),
// inside wazero: the decision without the host's share of the cost.
func BenchmarkDecide(b *testing.B) {
	res := example(b)
	e := engine(b, res)
	good := tables.Attacks(res.Config, fixedNow)[0].Headers
	for _, bc := range []struct {
		name    string
		path    string
		headers filter.HeaderList
	}{
		{"public", "/", nil},
		{"cached-token", "/auth", good},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := &filter.Request{Method: "GET", Authority: "a.shop.example", Path: bc.path, Headers: bc.headers}
			b.ReportAllocs()
			for b.Loop() {
				if d := decide(e, req); !d.Allow {
					b.Fatal(d)
				}
			}
		})
	}
}

// decide is Engine.Decide with a pending decision finished as `keycard
// test` finishes it (the sidecar knows nothing of the token).
func decide(e *filter.Engine, r *filter.Request) filter.Decision {
	d := e.Decide(r)
	if d.Pending != nil {
		a, err := policycases.Static(d.Pending)
		d = e.Finish(d.Pending, a, err)
	}
	return d
}

// TestKongIdentityHeaders: on Kong a client copy of a forwarded header
// (any case, "_" for "-") is refused, because the host cannot remove it
// before the upstream; on Envoy it is removed and the request decided.
func TestKongIdentityHeaders(t *testing.T) {
	res := example(t)
	envoy := engine(t, res)
	kong := gatewayEngine(t, res, config.GatewayKong, func() time.Time { return fixedNow })
	tests := []struct {
		name    string
		header  string
		refused bool
	}{
		{"canonical", "X-Auth-Level", true},
		{"lower case", "x-auth-phone", true},
		{"upper case", "X-AUTH-ROLES", true},
		{"underscores", "X_Auth_Level", true},
		{"mixed separators", "x_auth-phone", true},
		{"a longer name", "X-Auth-Levels", false},
		{"a shorter name", "X-Auth-Leve", false},
		{"another header", "X-Request-Id", false},
		{"a URL override", "X-Original-URL", true},
		{"a method override", "x_http_method_override", true},
		{"a prefix Kong sets itself", "X-Forwarded-Prefix", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := filter.HeaderList{{"host", "a.shop.example"}, {tc.header, "2"}}
			d := kong.Decide(&filter.Request{Method: "GET", Path: "/", Headers: h})
			if got := (d.Reason == filter.ReasonIdentityHeader || d.Reason == filter.ReasonOverrideHeader) && d.Status == 400; got != tc.refused {
				t.Errorf("Kong: %d %s, refused = %v, want %v", d.Status, d.Reason, got, tc.refused)
			}
			d = envoy.Decide(&filter.Request{Method: "GET", Authority: "a.shop.example", Path: "/", Headers: h})
			if !d.Allow {
				t.Errorf("Envoy: %d %s, want the public route allowed", d.Status, d.Reason)
			}
		})
	}
}

// TestKongHost: on Kong the client's host is the Host header, which must
// be there and say one thing (an HTTP/2 request may carry it twice, or
// beside its :authority); nginx routes an absolute-form target by the
// request line's host, so a Host header naming another is refused; and
// these checks come before the refusal of a header Kong cannot remove.
func TestKongHost(t *testing.T) {
	res := example(t)
	kong := gatewayEngine(t, res, config.GatewayKong, func() time.Time { return fixedNow })
	tests := []struct {
		name      string
		headers   filter.HeaderList
		routeHost string
		detail    string // "" for the public route allowed
	}{
		{"one", filter.HeaderList{{"host", "a.shop.example"}}, "", ""},
		{"client's case and a port", filter.HeaderList{{"Host", "A.Shop.Example:8443"}}, "", ""},
		{"twice, the same", filter.HeaderList{{"host", "a.shop.example"}, {"HOST", "A.shop.example"}}, "", ""},
		{"beside :authority", filter.HeaderList{{":authority", "b.shop.example"}, {"host", "a.shop.example"}}, "", ""},
		{"none", filter.HeaderList{{":authority", "a.shop.example"}}, "", httppath.ErrNoHost.Error()},
		{"twice, differing", filter.HeaderList{{"host", "a.shop.example"}, {"host", "b.shop.example"}}, "", httppath.ErrAmbiguousHost.Error()},
		{"differing, the second in capitals", filter.HeaderList{{"host", "a.shop.example"}, {"HOST", "b.shop.example"}}, "", httppath.ErrAmbiguousHost.Error()},
		{"a bad one", filter.HeaderList{{"host", "a shop"}}, "", httppath.ErrBadHost.Error()},
		{"routed by the same host", filter.HeaderList{{"host", "a.shop.example"}}, "A.shop.example", ""},
		{"routed by another host", filter.HeaderList{{"host", "a.shop.example"}}, "b.shop.example", httppath.ErrRoutedHost.Error()},
		{"no host before a refused header", filter.HeaderList{{"x-auth-level", "9"}}, "", httppath.ErrNoHost.Error()},
		{"differing hosts before a refused header", filter.HeaderList{{"x-auth-level", "9"}, {"host", "a.shop.example"}, {"host", "b.shop.example"}}, "", httppath.ErrAmbiguousHost.Error()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := kong.Decide(&filter.Request{Method: "GET", Path: "/", Headers: tc.headers, RouteHost: tc.routeHost})
			switch {
			case tc.detail == "" && !d.Allow:
				t.Errorf("%d %s (%s), want the public route allowed", d.Status, d.Reason, d.Detail)
			case tc.detail != "" && (d.Status != 400 || d.Reason != filter.ReasonBadRequest || d.Detail != tc.detail):
				t.Errorf("%d %s (%s), want 400 bad_request (%s)", d.Status, d.Reason, d.Detail, tc.detail)
			}
		})
	}
}

// TestRemoveNames: the walks' filter never hides a name SameHeaderName
// would match.
func TestRemoveNames(t *testing.T) {
	res := example(t)
	e := engine(t, res)
	d := e.Decide(&filter.Request{Method: "GET", Authority: "a.shop.example", Path: "/", Headers: filter.HeaderList(nil)})
	for _, name := range d.Remove {
		for _, variant := range []string{name, strings.ToUpper(name), strings.ReplaceAll(name, "-", "_")} {
			if !e.RemoveNames().May(variant) {
				t.Errorf("RemoveNames().May(%q) = false, but it is removed", variant)
			}
		}
	}
	for _, name := range []string{"authorization", "host", "accept", "x", strings.Repeat("x", 80)} {
		matched := slices.ContainsFunc(d.Remove, func(r string) bool { return filter.SameHeaderName(name, r) })
		if !e.RemoveNames().May(name) && matched {
			t.Errorf("RemoveNames().May(%q) = false for a removed name", name)
		}
	}
}
