package filter_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/internal/policycases"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"github.com/keycard-gw/keycard/state"
)

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
