// The shared scenario tables (internal/testing/tables) of the sidecar and
// of remote keys, run natively: the engine asks a real sidecar over HTTP
// as the module asks it through its host.

package filter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/internal/idp"
	"github.com/keycard-gw/keycard/internal/policycases"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"github.com/keycard-gw/keycard/state"
)

// TestRemoteKeysNatively plays the shared remote-keys scenario against
// the engine itself, with a real sidecar in front of a real HTTPS
// provider: the engine's key fetches go to the sidecar over HTTP, as
// the module's call-outs do, and the root's tick is played by asking
// for the sets KeysDue names.
func TestRemoteKeysNatively(t *testing.T) {
	rk := tables.StartRemoteKeys(t, idp.Healthy)
	p, res, sc := rk.Provider, rk.Res, rk.Sidecar
	e, err := filter.New(res.Config, res.Table, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	tables.RunRemoteKeys(t, p, &nativeKeys{t: t, e: e, base: sc.URL})
}

// nativeKeys is the engine as a remote-keys target: a request whose
// token needs keys fetches them at once and is decided again (it waits,
// as on Envoy).
type nativeKeys struct {
	t    *testing.T
	e    *filter.Engine
	base string
}

// fetch asks the sidecar for a key set, as the module does.
func (n *nativeKeys) fetch(issuer, query string) {
	req, err := http.NewRequest("GET", n.base+query, nil)
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("X-Keycard-Gateway-Key", sidecartest.GatewayKey)
	var body []byte
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, state.MaxKeySet+1))
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	_, _ = n.e.KeysArrived(issuer, body, err)
}

func (n *nativeKeys) Me(tok string) (int, string, string, error) {
	req := &filter.Request{Method: "GET", Authority: "api.example", Path: "/me", Headers: filter.HeaderList{{"authorization", "Bearer " + tok}}}
	d := n.e.Decide(req)
	if d.Keys != nil {
		n.fetch(d.Keys.Issuer, d.Keys.Query())
		d = n.e.Decide(req)
	}
	if d.Keys != nil || d.Pending != nil {
		return 0, "", "", errors.New("the decision still waits after its keys arrived")
	}
	o := policycases.OutcomeOf(&d)
	sub := ""
	if d.Allow && d.Identity != nil {
		sub = d.Identity.Subject
	}
	return o.Status, o.Reason, sub, nil
}

// Tick lets d pass, then fetches the sets that are due, as the root's
// tick does.
func (n *nativeKeys) Tick(d time.Duration) {
	time.Sleep(d)
	for _, issuer := range n.e.KeysDue() {
		n.fetch(issuer, state.KeysQuery(issuer, ""))
	}
}

func (*nativeKeys) Waits() bool { return true }

// TestSidecarFaults plays the shared sidecar faults (tables) natively:
// the engine asking a real sidecar over HTTP with the call's timeout, as
// the module does through its host.
func TestSidecarFaults(t *testing.T) {
	res := tables.Example(t, tables.Policies(".."))
	sc := sidecartest.Start(t, res.Config.Policy)
	e, err := filter.New(res.Config, res.Table, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	timeout := time.Duration(res.Config.Sidecar.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = config.DefaultTimeoutMillis * time.Millisecond
	}
	f := &tables.SidecarFaultsOf{T: t, Sidecar: sc}
	ask := policycases.SidecarAsker(&http.Client{Timeout: timeout}, sc.URL, sidecartest.GatewayKey)
	faulty := func(p *filter.Pending) (*state.Answer, error) {
		if f.Slow.Load() { // the call outlives its timeout
			time.Sleep(timeout)
			return nil, context.DeadlineExceeded
		}
		return ask(p)
	}
	tables.RunSidecarFaults(t, res.Config, "native-fault", policycases.Native(e, faulty), f, 2*time.Second)
}
