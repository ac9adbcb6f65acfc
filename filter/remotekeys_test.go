package filter_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

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
