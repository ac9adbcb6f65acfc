package session_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/filter/session"
	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"github.com/keycard-gw/keycard/state"
)

// request is what became of one request in the fake host.
type request struct {
	headers  filter.HeaderList
	target   string // Kong's request.path
	host     string // Kong's ngx.host
	line     string // Kong's ngx.request_line; "": the host does not serve it
	status   int    // a local response's, 0 while none
	body     string
	set      map[string]string
	removed  []string
	resumed  int
	finished bool
}

// call is a call-out the session made.
type call struct {
	stream uint32 // the context it was made from
	path   string
}

// fakeHost plays a proxy-wasm host natively, as docs/hosts.md describes
// the two: on Envoy a call-out's answer reaches the root and
// SetEffective chooses the request host calls act on; on Kong the answer
// reaches the request that made the call and SetEffective does nothing.
type fakeHost struct {
	t        *testing.T
	kong     bool
	now      time.Time
	config   []byte
	current  uint32 // the request host calls act on; 0: the root
	requests map[uint32]*request
	calls    map[uint32]call
	next     uint32
	answer   struct {
		headers filter.HeaderList
		body    []byte
	}
	logs     []string
	tick     uint32
	counters map[string]int
	ids      []string
	reads    []string // the properties read, in order
}

func newHost(t *testing.T, gateway string, conf *config.Config) *fakeHost {
	c := *conf
	c.Gateway = gateway
	data, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeHost{t: t, kong: gateway == config.GatewayKong, now: time.Now(), config: data,
		requests: map[uint32]*request{}, calls: map[uint32]call{}, counters: map[string]int{}}
}

func (h *fakeHost) req() *request {
	r, ok := h.requests[h.current]
	if !ok {
		h.t.Fatalf("a request host call from context %d, which is no request", h.current)
	}
	return r
}

func (h *fakeHost) Clock() func() time.Time                      { return func() time.Time { return h.now } }
func (h *fakeHost) Log(level int, msg string)                    { h.logs = append(h.logs, msg) }
func (h *fakeHost) PluginConfiguration(size int) ([]byte, error) { return h.config, nil }
func (h *fakeHost) SetTickPeriod(millis uint32) error {
	if h.kong && h.tick != 0 {
		return errors.New("kong traps on a second tick period")
	}
	h.tick = millis
	return nil
}
func (h *fakeHost) DefineCounter(name string) (uint32, error) {
	h.ids = append(h.ids, name)
	return uint32(len(h.ids) - 1), nil
}
func (h *fakeHost) IncrementCounter(id uint32) error { h.counters[h.ids[id]]++; return nil }
func (h *fakeHost) RequestHeaders() (session.Headers, error) {
	return h.req().headers, nil
}
func (h *fakeHost) Property(path string) (string, error) {
	name := filter.Property(path).String()
	h.reads = append(h.reads, name)
	switch name {
	case "request.path":
		return h.req().target, nil
	case "ngx.host":
		return h.req().host, nil
	case "ngx.request_line":
		if h.req().line != "" {
			return h.req().line, nil
		}
	}
	return "", errors.New("no property " + name)
}
func (h *fakeHost) RemoveRequestHeader(name string) error {
	h.req().removed = append(h.req().removed, name)
	return nil
}
func (h *fakeHost) ReplaceRequestHeader(name, value string) error {
	h.req().set[name] = value
	return nil
}
func (h *fakeHost) ResponseHeaders() (session.Headers, error)  { return filter.HeaderList(nil), nil }
func (h *fakeHost) ReplaceResponseHeader(string, string) error { return nil }
func (h *fakeHost) SendResponse(status int, _ [][2]string, body []byte, _ string) error {
	r := h.req()
	if r.status != 0 || r.finished {
		h.t.Errorf("request %d answered twice", h.current)
	}
	r.status, r.body, r.finished = status, string(body), true
	return nil
}
func (h *fakeHost) Resume() error {
	r := h.req()
	r.resumed++
	r.finished = true
	return nil
}
func (h *fakeHost) SetEffective(stream uint32) error {
	if h.kong {
		return nil // ngx_wasm_module: a no-op
	}
	if _, ok := h.requests[stream]; !ok {
		return errors.New("no such context")
	}
	h.current = stream
	return nil
}
func (h *fakeHost) Dispatch(_ string, hs [][2]string, _ uint32) (uint32, error) {
	h.next++
	path := ""
	for _, kv := range hs {
		if kv[0] == ":path" {
			path = kv[1]
		}
	}
	h.calls[h.next] = call{h.current, path}
	return h.next, nil
}
func (h *fakeHost) CallResponseHeaders() (session.Headers, error) { return h.answer.headers, nil }
func (h *fakeHost) CallResponseBody(size int) ([]byte, error)     { return h.answer.body[:size], nil }

// send runs a request's headers callback: GET host path with the
// headers, as the flavour presents a request.
func (h *fakeHost) send(s *session.Root, id uint32, host, path string, hs ...[2]string) session.Action {
	r := &request{set: map[string]string{}, target: path, host: host, line: "GET " + path + " HTTP/1.1"}
	h.sendRequest(s, id, r, host, hs...)
	return h.requestAction(s, id)
}

// sendRequest puts a request in place as the flavour presents it.
func (h *fakeHost) sendRequest(s *session.Root, id uint32, r *request, host string, hs ...[2]string) {
	path := r.target
	if h.kong {
		r.headers = append(filter.HeaderList{{":method", "GET"}, {":path", path}, {":authority", "kong:8000"}, {"host", host}}, hs...)
	} else {
		r.headers = append(filter.HeaderList{{":method", "GET"}, {":path", path}, {":authority", host}}, hs...)
	}
	h.requests[id] = r
}

// requestAction runs the headers callback of a request put in place.
func (h *fakeHost) requestAction(s *session.Root, id uint32) session.Action {
	r := h.requests[id]
	h.current = id
	a := s.RequestHeaders(id)
	if a == session.Continue {
		r.finished = true
	}
	return a
}

// deliver answers call-out token with status and body: at the root on
// Envoy, on the request that made the call on Kong.
func (h *fakeHost) deliver(s *session.Root, token uint32, status int, body []byte) {
	c, ok := h.calls[token]
	if !ok {
		h.t.Fatalf("no call-out %d", token)
	}
	delete(h.calls, token)
	h.answer.headers = filter.HeaderList{{":status", fmt.Sprint(status)}}
	h.answer.body = body
	h.current = 0
	if h.kong {
		h.current = c.stream
	}
	n := 1
	if status == 0 { // failed: Kong's form
		h.answer.headers = filter.HeaderList{{":dispatch_status", "broken connection"}}
	}
	s.CallResponse(token, n, len(body))
}

func start(t *testing.T, h *fakeHost) *session.Root {
	s := session.New(h)
	if !s.Configure(len(h.config)) {
		t.Fatalf("configure: %v", h.logs)
	}
	return s
}

func shop(t *testing.T) *compiler.Result {
	return tables.Example(t, tables.Policies(filepath.Join("..", "..")))
}

func bearer(tok string) [2]string { return [2]string{"authorization", "Bearer " + tok} }

func unknownToken() []byte {
	data, _ := json.Marshal(state.Answer{Version: state.Version, Token: state.Unknown, Status: state.Enabled})
	return data
}

// TestSharedStateCall: on Envoy, requests for one token while its
// sidecar call is in flight wait for that call and are all decided by
// its answer; on Kong, whose host answers only the request that called
// and ignores proxy_set_effective_context, each request makes its own.
func TestSharedStateCall(t *testing.T) {
	res := shop(t)
	tok, err := mint.Token(res.Config, "login", "", mint.Claims{Subject: "13000000001", Level: 1, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		gateway string
		calls   int
	}{{config.GatewayEnvoy, 1}, {config.GatewayKong, 3}} {
		t.Run(tc.gateway, func(t *testing.T) {
			h := newHost(t, tc.gateway, res.Config)
			s := start(t, h)
			for id := uint32(1); id <= 3; id++ {
				if a := h.send(s, id, "a.shop.example", "/auth", bearer(tok)); a != session.Pause {
					t.Fatalf("request %d did not wait for the sidecar", id)
				}
			}
			if len(h.calls) != tc.calls {
				t.Fatalf("%d sidecar calls for three requests of one token, want %d", len(h.calls), tc.calls)
			}
			for token := range h.calls {
				h.deliver(s, token, 200, unknownToken())
			}
			for id := uint32(1); id <= 3; id++ {
				r := h.requests[id]
				if r.resumed != 1 || r.status != 0 || r.set["x-auth-phone"] != "13000000001" {
					t.Errorf("request %d: resumed %d, status %d, set %v", id, r.resumed, r.status, r.set)
				}
			}
		})
	}
}

// TestFailedStateCall: a call-out that gets no answer ends every request
// that waited for it in the on_error decision (503 under deny), answered
// once each.
func TestFailedStateCall(t *testing.T) {
	res := shop(t)
	tok, _ := mint.Token(res.Config, "login", "", mint.Claims{Subject: "13000000001", Level: 1, TTL: time.Hour}, time.Now())
	for _, gateway := range []string{config.GatewayEnvoy, config.GatewayKong} {
		t.Run(gateway, func(t *testing.T) {
			h := newHost(t, gateway, res.Config)
			s := start(t, h)
			h.send(s, 1, "a.shop.example", "/auth", bearer(tok))
			h.send(s, 2, "a.shop.example", "/auth", bearer(tok))
			for token := range h.calls {
				h.deliver(s, token, 0, nil)
			}
			for id := uint32(1); id <= 2; id++ {
				if r := h.requests[id]; r.status != 503 || !strings.Contains(r.body, `"reason":"sidecar_unavailable"`) || r.resumed != 0 {
					t.Errorf("request %d: %d %s, resumed %d", id, r.status, r.body, r.resumed)
				}
			}
		})
	}
}

// remoteKeys is a policy whose HS256 issuer login takes its secret from
// the sidecar, and that secret's key set as the sidecar answers it.
func remoteKeys(t *testing.T) (*compiler.Result, string, []byte) {
	res := tables.CompileRemoteKeys(t, "https://idp.example", strings.Repeat("k", 32))
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "https://login.example", "sub": "alice", "level": 1, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(tables.RuntimeSecret))
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(state.KeySet{Version: state.KeySetVersion, Issuer: "login", Set: "s1",
		Keys: []config.Key{{Kty: "oct", K: base64.RawURLEncoding.EncodeToString([]byte(tables.RuntimeSecret))}}})
	return res, tok, set
}

// TestKeyFetchWaiters: a token whose issuer's keys have not arrived
// fetches them. On Envoy the requests that find the fetch in flight
// wait for it and are decided when the keys arrive; on Kong only the
// request that sent it can wait, and the others are decided at once
// (503 keys_unavailable: the keys, not the token, are missing).
func TestKeyFetchWaiters(t *testing.T) {
	res, tok, set := remoteKeys(t)
	for _, gateway := range []string{config.GatewayEnvoy, config.GatewayKong} {
		t.Run(gateway, func(t *testing.T) {
			h := newHost(t, gateway, res.Config)
			s := start(t, h)
			if h.tick != 1000 {
				t.Errorf("tick period %d, want 1000", h.tick)
			}
			h.send(s, 1, "api.example", "/me", bearer(tok))
			h.send(s, 2, "api.example", "/me", bearer(tok))
			if len(h.calls) != 1 {
				t.Fatalf("%d key fetches, want one", len(h.calls))
			}
			var token uint32
			for tk, c := range h.calls {
				if !strings.HasPrefix(c.path, "/v1/keys?issuer=login") || c.stream != 1 {
					t.Fatalf("the fetch: %+v", c)
				}
				token = tk
			}
			second := h.requests[2]
			if gateway == config.GatewayKong {
				if second.status != 503 || !strings.Contains(second.body, "keys_unavailable") {
					t.Errorf("on Kong, the second request: %d %s", second.status, second.body)
				}
			} else if second.finished {
				t.Errorf("on Envoy, the second request did not wait: %d", second.status)
			}
			h.deliver(s, token, 200, set)
			if r := h.requests[1]; r.resumed != 1 || r.set["x-auth-sub"] != "alice" {
				t.Errorf("the request that fetched: resumed %d, set %v", r.resumed, r.set)
			}
			if gateway == config.GatewayEnvoy && (second.resumed != 1 || second.set["x-auth-sub"] != "alice") {
				t.Errorf("the request that waited: resumed %d, set %v", second.resumed, second.set)
			}
			// With the keys in hand, a request is decided at once.
			if a := h.send(s, 3, "api.example", "/me", bearer(tok)); a != session.Continue {
				t.Errorf("with keys: %v %d", a, h.requests[3].status)
			}
		})
	}
}

// TestTickPolls: the tick polls the keys of each issuer due, once per
// tick while its poll is in flight.
func TestTickPolls(t *testing.T) {
	res, _, set := remoteKeys(t)
	h := newHost(t, config.GatewayEnvoy, res.Config)
	s := start(t, h)
	s.Tick()
	if len(h.calls) != 2 { // idp and login
		t.Fatalf("%d polls on the first tick, want 2: %v", len(h.calls), h.calls)
	}
	s.Tick()
	if len(h.calls) != 2 {
		t.Fatalf("a tick sent another poll while two were in flight: %v", h.calls)
	}
	for tk, c := range h.calls {
		if strings.Contains(c.path, "issuer=login") {
			h.deliver(s, tk, 200, set)
		}
	}
	if len(h.calls) != 1 {
		t.Fatalf("calls after login's answer: %v", h.calls)
	}
}

// TestDenialLogLimit: at most 20 denial lines a second, then one line
// saying how many were dropped.
func TestDenialLogLimit(t *testing.T) {
	res := shop(t)
	h := newHost(t, config.GatewayEnvoy, res.Config)
	s := start(t, h)
	h.logs = nil
	for id := uint32(1); id <= 25; id++ {
		h.send(s, id, "a.shop.example", "/auth")
	}
	if len(h.logs) != 20 {
		t.Fatalf("%d denial lines in one second, want 20", len(h.logs))
	}
	h.now = h.now.Add(time.Second)
	h.send(s, 26, "a.shop.example", "/auth")
	if len(h.logs) != 22 || h.logs[20] != "keycard: 5 denial log lines dropped in the last second" {
		t.Fatalf("after a second: %q", h.logs[20:])
	}
	if h.counters["keycard.requests.denied.no_token"] != 26 {
		t.Errorf("denied counter %d, want 26", h.counters["keycard.requests.denied.no_token"])
	}
}

// TestKongRequestLine: on Kong the request line alone gives the target
// and says nginx routes by the Host header when its target is in origin
// form (one property read); any other line, or a host that does not
// serve it, falls back to request.path and ngx.host.
func TestKongRequestLine(t *testing.T) {
	res := shop(t)
	for _, tc := range []struct {
		name       string
		line       string
		target     string // request.path
		routedHost string // ngx.host
		status     int
		reads      []string
	}{
		{"origin form", "GET /health HTTP/1.1", "/health", "a.shop.example", 200, []string{"ngx.request_line"}},
		{"origin form over HTTP/2", "GET /health HTTP/2.0", "/health", "a.shop.example", 200, []string{"ngx.request_line"}},
		{"the line's target is the one decided on", "GET /admin/users HTTP/1.1", "/health", "a.shop.example", 401, []string{"ngx.request_line"}},
		{"absolute form routed elsewhere", "GET http://b.shop.example/health HTTP/1.1", "/health", "b.shop.example", 400, []string{"ngx.request_line", "request.path", "ngx.host"}},
		{"absolute form routed by the same host", "GET http://a.shop.example/health HTTP/1.1", "/health", "a.shop.example", 200, []string{"ngx.request_line", "request.path", "ngx.host"}},
		{"no request line", "", "/health", "a.shop.example", 200, []string{"ngx.request_line", "request.path", "ngx.host"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, config.GatewayKong, res.Config)
			s := start(t, h)
			h.reads = nil
			r := &request{set: map[string]string{}, target: tc.target, host: tc.routedHost, line: tc.line}
			h.sendRequest(s, 1, r, "a.shop.example")
			h.requestAction(s, 1)
			status := r.status
			if status == 0 && r.finished {
				status = 200
			}
			if status != tc.status || strings.Join(h.reads, " ") != strings.Join(tc.reads, " ") {
				t.Errorf("status %d, reads %q; want %d, %q (log %q)", status, h.reads, tc.status, tc.reads, h.logs)
			}
		})
	}
}
