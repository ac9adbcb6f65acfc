package kongtest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/internal/testing/sidecartest"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/policycases"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"github.com/keycard-gw/keycard/internal/wasmhost"
)

// TestKong runs the filter in the real Kong host. One nginx, sidecar and
// Redis serve every subtest: the host takes seconds to load the module.
// The subtests that change the sidecar's state or the policy come last.
func TestKong(t *testing.T) {
	st := startStack(t)
	t.Run("cases", st.testCases)
	t.Run("attacks", st.testAttacks)
	t.Run("paths", st.testPaths)
	t.Run("nginx URI model", st.testNginxURI)
	t.Run("http", st.testHTTP)
	t.Run("absolute-form target", st.testAbsoluteForm)
	t.Run("headers Kong sets", st.testKongSetHeaders)
	t.Run("cors", st.testCORS)
	t.Run("sidecar", st.testSidecar)
	t.Run("load", st.testLoad)
	t.Run("reload", st.testReload)
	if c := st.gw.Crashes(); len(c) > 0 {
		t.Errorf("nginx workers crashed:\n%s", strings.Join(c, "\n"))
	}
	if t.Failed() {
		lines := strings.Split(strings.TrimSpace(st.gw.ErrorLog()), "\n")
		t.Logf("the end of nginx's error.log:\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
}

// testCases runs every case of policies/*.cases.yaml through the host and
// natively (with the configuration Kong was given): status, reason and
// forwarded headers must agree, and meet the case's expectation on Kong.
// An allowed request's reason is not visible at the upstream, so only
// denials compare reasons.
func (st *stack) testCases(t *testing.T) {
	native := policycases.Native(st.native, policycases.SidecarAsker(http.DefaultClient, st.sc.URL, sidecartest.GatewayKey))
	tables.RunExampleCases(t, tables.Policies(root), st.res.Config, native, func(t *testing.T, c *policycases.Case, h [][2]string, want policycases.Outcome) {
		got := st.get(t, c.Request.Method, c.Request.Host, c.Request.Path, h).Outcome()
		if c.Request.Method == "HEAD" { // no body: neither the reason nor the echoed headers come back
			got.Reason, got.Headers = want.Reason, want.Headers
		}
		if !agree(want, got) {
			t.Errorf("native %v, Kong %v", want, got)
		}
		if got.Status == 200 {
			got.Reason = want.Reason
		}
		if !c.CheckOn(config.GatewayKong, got) {
			t.Errorf("Kong's outcome %v does not meet the case (line %d)", got, c.Line)
		}
	})
}

// agree compares outcomes: the status, the reason of a denial and the
// forwarded identity headers.
func agree(a, b policycases.Outcome) bool {
	if a.Status != b.Status || (a.Status != 200 && a.Reason != b.Reason) || len(a.Headers) != len(b.Headers) {
		return false
	}
	for k, v := range a.Headers {
		if b.Headers[k] != v {
			return false
		}
	}
	return true
}

// nginxRefuses are the attack rows nginx answers 400 itself, before any
// filter runs: a header line longer than large_client_header_buffers
// (8k), and a second Authorization header (nginx 1.23+ keeps
// Authorization unique, ngx_http_process_unique_header_line).
var nginxRefuses = map[string]bool{"1 MB token": true, "100k dots": true, "two Authorization headers": true}

// testAttacks runs the JWT attack table against /auth on a.shop.example.
func (st *stack) testAttacks(t *testing.T) {
	for _, a := range tables.Attacks(st.res.Config, time.Now()) {
		t.Run(a.Name, func(t *testing.T) {
			method, host, path := a.Request()
			r := st.get(t, method, host, path, a.Headers)
			if nginxRefuses[a.Name] {
				if r.Status != 400 || r.Reason != HostRefused {
					t.Errorf("got %d %s, want nginx's own 400", r.Status, r.Reason)
				}
				return
			}
			if r.Status != a.Status || (a.Status != 200 && r.Reason != a.Reason) {
				t.Errorf("got %d %s, want %d %s", r.Status, r.Reason, a.Status, a.Reason)
			}
		})
	}
}

// testPaths runs the path table. Where nginx refuses a target itself the
// row must be a denial, and the model (wasmhost.NginxURI) must predict
// it; otherwise the filter decides as the table says, and an allowed
// request reaches the upstream with the target the client sent, which
// is the one the filter decided on.
func (st *stack) testPaths(t *testing.T) {
	level1 := bearer(st.token(t, "13000000001", "paths", 1))
	for _, tc := range tables.Paths() {
		t.Run(tc.Target, func(t *testing.T) {
			r := st.get(t, "GET", "api.shop.example", tc.Target, level1)
			_, modelErr := wasmhost.NginxURI(tc.Target)
			if r.Reason == HostRefused {
				if tc.Status == 200 || r.Status != 400 {
					t.Errorf("nginx answered %d itself; the table says %d", r.Status, tc.Status)
				}
				if !errors.Is(modelErr, wasmhost.ErrNginxRefuses) {
					t.Errorf("nginx refused the target, the model did not")
				}
				return
			}
			if modelErr != nil {
				t.Errorf("the model says nginx refuses the target (%v); nginx did not", modelErr)
			}
			if r.Status != tc.Status || (tc.Status != 200 && r.Reason != tc.Reason) {
				t.Errorf("got %d %s, want %d %s", r.Status, r.Reason, tc.Status, tc.Reason)
			}
			if r.Echo != nil && r.Echo.Target != tc.Target {
				t.Errorf("the upstream received %q, the filter decided on %q", r.Echo.Target, tc.Target)
			}
		})
	}
}

// testNginxURI checks the model of nginx's URI (what Kong's host gives
// as :path) against nginx's own $uri, answered by the probe server.
func (st *stack) testNginxURI(t *testing.T) {
	targets := []string{"/", "/a//b", "/a/./b/../c", "/a/%2e%2e/b", "/a/%61%25", "/a/b/", "/a/b/..", "/a?x=%2F..", "/a#frag", "/a/%2Fb", "/a/..%2fb", "/../a", "/a/%00", "/a/%zz", "/%7e"}
	for _, p := range tables.Paths() {
		targets = append(targets, p.Target)
	}
	for _, target := range targets {
		want, modelErr := wasmhost.NginxURI(target)
		r, err := rawText(fmt.Sprintf("127.0.0.1:%d", st.gw.Ports.Probe), target)
		if err != nil {
			t.Fatalf("%q: %v", target, err)
		}
		switch {
		case r.status == 400 && errors.Is(modelErr, wasmhost.ErrNginxRefuses):
		case r.status != 200 || modelErr != nil:
			t.Errorf("%q: nginx %d %q, model %q %v", target, r.status, r.body, want, modelErr)
		default:
			// $uri has no arguments; the model's :path adds them.
			if path, _, _ := strings.Cut(want, "?"); path != r.body {
				t.Errorf("%q: nginx's $uri %q, the model's %q", target, r.body, path)
			}
		}
	}
}

type textResponse struct {
	status int
	body   string
}

// rawText sends GET target as written and reads a short text answer.
func rawText(addr, target string) (*textResponse, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n", target); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, err = bufio.NewReader(resp.Body).WriteTo(&b)
	return &textResponse{resp.StatusCode, b.String()}, err
}

// testAbsoluteForm sends the absolute-form requests of
// tables.AbsoluteForms as raw request lines.
func (st *stack) testAbsoluteForm(t *testing.T) {
	for _, tc := range tables.AbsoluteForms() {
		t.Run(tc.Name, func(t *testing.T) {
			r := st.get(t, "GET", tc.Host, tc.Target, nil)
			if r.Status != tc.Status || r.Reason != tc.Reason {
				t.Errorf("GET %s with Host %s: %d %s, want %d %s", tc.Target, tc.Host, r.Status, r.Reason, tc.Status, tc.Reason)
			}
		})
	}
}

// testKongSetHeaders: a client's X-Forwarded-Path or -Prefix, spelled as
// proxy_set_header knows it, is replaced by nginx's own value (the
// upstream gets one copy, nginx's); spelled with "_" (which CGI-style
// upstreams read as the same variable, and proxy_set_header does not
// replace) the request is refused.
func (st *stack) testKongSetHeaders(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		status       int
		reason       string
	}{
		{"X-Forwarded-Path", "X-Forwarded-Path", 200, ""},
		{"x-forwarded-prefix in lower case", "x-forwarded-prefix", 200, ""},
		{"X_Forwarded_Path", "X_Forwarded_Path", 400, "override_header"},
		{"X_Forwarded_Prefix", "X_Forwarded_Prefix", 400, "override_header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := st.get(t, "GET", "a.shop.example", "/", [][2]string{{tc.header, "/admin/users"}})
			if r.Status != tc.status || tc.status != 200 && r.Reason != tc.reason {
				t.Fatalf("%d %s, want %d %s", r.Status, r.Reason, tc.status, tc.reason)
			}
			if r.Echo == nil {
				return
			}
			for name, want := range map[string]string{"x-forwarded-path": "/", "x-forwarded-prefix": ""} {
				got := r.Echo.Headers[name]
				if len(got) > 1 || len(got) == 1 && got[0] != want {
					t.Errorf("the upstream got %s %q, want only nginx's %q", name, got, want)
				}
			}
		})
	}
}

// testCORS runs the shared cross-origin table through Kong: answered
// preflights, and the CORS headers the filter adds to its own answers and
// to the upstream's responses (in proxy_on_response_headers).
func (st *stack) testCORS(t *testing.T) {
	tables.RunCORS(t, st.res.Config, time.Now(), func(t *testing.T, c tables.CORSRequest) tables.CORSAnswer {
		r := st.get(t, c.Method, c.Host, c.Path, c.Headers)
		return tables.CORSAnswer{Status: r.Status, Reason: r.Reason, Header: func(name string) (string, bool) {
			v := r.Header.Values(name)
			if len(v) == 0 {
				return "", false
			}
			return strings.Join(v, ", "), true
		}}
	})
}
