package kongtest

import (
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/internal/idp"
	"github.com/keycard-gw/keycard/internal/testing/tables"
)

// TestRemoteKeysInKong runs remote keys in the real host: the key fetch
// a request makes (host:port upstream, answer on the request's own
// instance), the root's tick period and its poll (call-outs from
// on_tick), rotation, a retired key, a flood of made-up kids, and a
// run-time secret.
func TestRemoteKeysInKong(t *testing.T) {
	nginx := host(t)
	rk := tables.StartRemoteKeys(t, idp.Healthy)
	p, res, sc := rk.Provider, rk.Res, rk.Sidecar
	module := buildModule(t)
	echo := strings.TrimPrefix(StartEcho(t).URL, "http://")
	files := kongFiles(t, res, module, strings.TrimPrefix(sc.URL, "http://"))
	gw := Start(t, nginx, Conf{Files: files, Module: module, Upstream: echo, Workers: 2})
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("the end of nginx's error.log:\n" + tail(gw.ErrorLog()))
		}
	})
	tables.RunRemoteKeys(t, p, kongKeys{t, gw})
	for _, line := range strings.Split(gw.ErrorLog(), "\n") {
		if strings.Contains(line, "trap:") || strings.Contains(line, "[emerg]") || strings.Contains(line, "[alert]") || strings.Contains(line, "[crit]") {
			t.Errorf("host: %s", line)
		}
	}
	if c := gw.Crashes(); len(c) > 0 {
		t.Errorf("worker crashes: %v", c)
	}
}

func tail(log string) string {
	lines := strings.Split(log, "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// kongKeys is the real Kong host as a remote-keys target: two workers,
// each with its VM and its own fetches.
type kongKeys struct {
	t  *testing.T
	gw *Gateway
}

func (k kongKeys) Me(tok string) (int, string, string, error) {
	r, err := raw(k.gw.Ports.ProxyAddr(), "GET", "api.example", "/me", bearer(tok), nil, "")
	if err != nil {
		return 0, "", "", err
	}
	sub := ""
	if r.Echo != nil {
		sub = strings.Join(r.Echo.Headers["x-auth-sub"], ",")
	}
	return r.Status, r.Reason, sub, nil
}

func (kongKeys) Tick(d time.Duration) { time.Sleep(d) } // nginx's timers run on their own
func (kongKeys) Waits() bool          { return false }
