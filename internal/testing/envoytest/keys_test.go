package envoytest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/internal/idp"
	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/internal/policycases"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
	"github.com/keycard-gw/keycard/internal/testing/tables"
)

// TestRemoteKeysInEnvoy runs remote keys in Envoy's host core on each
// engine: the keys a request fetches (it waits for the answer), the
// root's tick polling the sidecar, a rotated key's token passing on its
// first request, a retired key's token refused once the poll brings the
// set without it, and a flood of made-up kids costing the provider at
// most one fetch per min_interval.
func TestRemoteKeysInEnvoy(t *testing.T) {
	engines, module := hostModule(t)
	for _, eng := range engines {
		t.Run(eng.Name, func(t *testing.T) {
			rk := tables.StartRemoteKeys(t, idp.Healthy)
			p, res, sc := rk.Provider, rk.Res, rk.Sidecar
			conf, cfg := renderedConfig(t, res)
			file := filepath.Join(t.TempDir(), "keycard.json")
			os.WriteFile(file, conf, 0o600)
			host, err := Start(eng, module, file, map[string]string{cfg.Sidecar.Upstream: sc.URL})
			if err != nil {
				t.Fatal(err)
			}
			defer host.Close()
			get := func(tok string) (*Result, policycases.Outcome) {
				t.Helper()
				r, err := host.Do(Request{Method: "GET", Authority: "api.example", Path: "/me", Headers: [][2]string{{"authorization", "Bearer " + tok}}})
				if err != nil {
					t.Fatal(err)
				}
				o, err := outcome(r)
				if err != nil {
					t.Fatal(err)
				}
				return r, o
			}
			first, err := p.SignWith("", jwt.MapClaims{"sub": "alice", "level": 1, "exp": time.Now().Add(time.Hour).Unix()})
			if err != nil {
				t.Fatal(err)
			}
			if r, o := get(first); o.Status != 200 || keyCalls(r) != 1 {
				t.Errorf("the first token: %d %s with %d key call-outs, want 200 with 1: %v", o.Status, o.Reason, keyCalls(r), r.Callouts)
			}
			// The root's tick polls the sidecar (a 1s period): its
			// call-outs are the host's events.
			host.Events = nil
			if err := host.Sleep(2500); err != nil {
				t.Fatal(err)
			}
			if polls := strings.Count(strings.Join(host.Events, "\n"), "/v1/keys"); polls < 2 {
				t.Errorf("%d key polls in 2.5s of ticks: %v", polls, host.Events)
			}
			tables.RunRemoteKeys(t, p, envoyKeys{t, get, host})
		})
	}
}

// envoyKeys is the host core as a remote-keys target.
type envoyKeys struct {
	t    *testing.T
	get  func(tok string) (*Result, policycases.Outcome)
	host *Host
}

func (k envoyKeys) Me(tok string) (int, string, string, error) {
	r, o := k.get(tok)
	return o.Status, o.Reason, headerValue(r.UpstreamHeaders, "x-auth-sub"), nil
}

func (k envoyKeys) Tick(d time.Duration) {
	if err := k.host.Sleep(int(d / time.Millisecond)); err != nil {
		k.t.Fatal(err)
	}
}

func (envoyKeys) Waits() bool { return true }

// keyCalls counts a request's call-outs for keys.
func keyCalls(r *Result) int {
	n := 0
	for _, c := range r.Callouts {
		if m, ok := c.(map[string]any); ok && strings.HasPrefix(fmt.Sprint(m["path"]), "/v1/keys") {
			n++
		}
	}
	return n
}

func headerValue(headers [][2]string, name string) string {
	for _, kv := range headers {
		if strings.EqualFold(kv[0], name) {
			return kv[1]
		}
	}
	return ""
}

// TestShadowInEnvoy: in Envoy's host core, a shadowed denial reaches the
// upstream with the caller's identity and the would-be decision in the
// shadow header, and is logged as one structured line; an enforced
// denial is answered; a bad path is never shadowed.
func TestShadowInEnvoy(t *testing.T) {
	engines, module := hostModule(t)
	res := tables.ShadowPolicy(t, root)
	sc := sidecartest.Start(t, res.Config.Policy)
	conf, cfg := renderedConfig(t, res)
	file := filepath.Join(t.TempDir(), "keycard.json")
	os.WriteFile(file, conf, 0o600)
	tok, err := mint.Token(res.Config, "login", "", mint.Claims{Subject: "13000000001", Level: 1, JTI: "envoy-shadow"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, eng := range engines {
		t.Run(eng.Name, func(t *testing.T) {
			host, err := Start(eng, module, file, map[string]string{cfg.Sidecar.Upstream: sc.URL})
			if err != nil {
				t.Fatal(err)
			}
			defer host.Close()
			do := func(authority, path string, h [][2]string) *Result {
				t.Helper()
				r, err := host.Do(Request{Method: "GET", Authority: authority, Path: path, Headers: h})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			r := do("a.shop.example", "/admin/users", [][2]string{{"authorization", "Bearer " + tok}})
			if r.Result != "continue" || headerValue(r.UpstreamHeaders, "x-keycard-shadow") != "403 insufficient_level" || headerValue(r.UpstreamHeaders, "x-auth-level") != "1" {
				t.Errorf("a shadowed denial: %s %d %v", r.Result, r.Status, r.UpstreamHeaders)
			}
			if line := decisionLine(r.Log); !strings.HasPrefix(line, "keycard: shadow-deny policy=shop table=") || !strings.Contains(line, " status=403 reason=insufficient_level service=service_a route=/admin/**") || strings.Contains(line, tok) {
				t.Errorf("log line %q", line)
			}
			if r := do("a.shop.example", "/auth", nil); r.Result != "local_reply" || r.Status != 401 {
				t.Errorf("an enforced route: %s %d", r.Result, r.Status)
			}
			if r := do("b.shop.example", "/nowhere", nil); r.Result != "continue" || headerValue(r.UpstreamHeaders, "x-keycard-shadow") != "404 no_route" {
				t.Errorf("a service in shadow mode, no route: %s %d %v", r.Result, r.Status, r.UpstreamHeaders)
			}
			// Handed over as sent (render's connection manager options
			// would resolve it to /admin first): the filter refuses it.
			raw, err := Start(eng, module, file, map[string]string{cfg.Sidecar.Upstream: sc.URL}, "--hcm", "raw")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if r, err := raw.Do(Request{Method: "GET", Authority: "b.shop.example", Path: "/a/%2e%2e/admin"}); err != nil || r.Result != "local_reply" || r.Status != 400 {
				t.Errorf("a bad path in a shadowed service: %v %+v", err, r)
			}
		})
	}
}
