package tables

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/internal/policycases"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
)

// SidecarFault is one way the sidecar fails a filter that needs it.
type SidecarFault string

// The faults every target plays, in this order.
const (
	SidecarSlow      SidecarFault = "a sidecar slower than the call's timeout"
	SidecarRedisDown SidecarFault = "a sidecar whose Redis is down"
	SidecarDown      SidecarFault = "a sidecar that refuses connections"
)

// SidecarFaults lists them in the order RunSidecarFaults plays them.
var SidecarFaults = []SidecarFault{SidecarSlow, SidecarRedisDown, SidecarDown}

// Faulter makes a target's sidecar fail, and mends it.
type Faulter interface {
	Fail(f SidecarFault)
	// Mend undoes f, and reports false when the target cannot (the
	// scenario then ends with f).
	Mend(f SidecarFault) bool
}

// RunSidecarFaults plays every fault against target (GET a.shop.example,
// the example policy): while the sidecar fails, a request whose token no
// cached answer covers gets the on_error decision, 503
// sidecar_unavailable, within bound, and a public route is served; once
// mended, such a request is allowed again.
func RunSidecarFaults(t *testing.T, cfg *config.Config, tag string, target policycases.Target, faults Faulter, bound time.Duration) {
	n := 0
	fresh := func() [][2]string {
		n++
		tok, err := mint.Token(cfg, "login", "", mint.Claims{Subject: fmt.Sprintf("%s-%d", tag, n), Level: 1, JTI: fmt.Sprintf("%s-%d-%d", tag, n, time.Now().UnixNano()), TTL: time.Hour}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return [][2]string{{"authorization", "Bearer " + tok}}
	}
	expect := func(what, path string, h [][2]string, status int, reason string) {
		t.Helper()
		start := time.Now()
		o, err := target("GET", "a.shop.example", path, h)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if o.Status != status || status != 200 && o.Reason != reason {
			t.Errorf("%s: %d %s, want %d %s", what, o.Status, o.Reason, status, reason)
		}
		if d := time.Since(start); d > bound {
			t.Errorf("%s: answered after %v", what, d)
		}
	}
	for _, f := range SidecarFaults {
		faults.Fail(f)
		expect(string(f), "/auth", fresh(), 503, "sidecar_unavailable")
		expect(string(f)+", a public route", "/", nil, 200, "")
		if !faults.Mend(f) {
			return
		}
		expect(string(f)+", mended", "/auth", fresh(), 200, "")
	}
}

// SidecarFaults breaks a test sidecar (sidecartest) for RunSidecarFaults:
// Slow is set while the sidecar must answer after the call's timeout
// (the target's caller or proxy reads it, or SetSlow does the delaying);
// Redis is stopped and restarted; the sidecar is stopped and restarted,
// unless Down and Up say otherwise.
type SidecarFaultsOf struct {
	T       *testing.T
	Sidecar *sidecartest.Sidecar
	Slow    atomic.Bool
	SetSlow func(on bool) // instead of Slow, when the target delays by itself
	Down    func()        // the sidecar refuses connections; default Sidecar.Stop
	Up      func() bool   // undoes Down, false when it cannot; default Sidecar.Restart
}

// Fail makes the sidecar fail so.
func (s *SidecarFaultsOf) Fail(f SidecarFault) {
	switch f {
	case SidecarSlow:
		s.slow(true)
	case SidecarRedisDown:
		s.Sidecar.Redis.Stop()
	case SidecarDown:
		if s.Down != nil {
			s.Down()
		} else {
			s.Sidecar.Stop()
		}
	}
}

// Mend undoes f.
func (s *SidecarFaultsOf) Mend(f SidecarFault) bool {
	switch f {
	case SidecarSlow:
		s.slow(false)
	case SidecarRedisDown:
		s.Sidecar.Redis.Restart()
		s.Sidecar.WaitReady(s.T)
	case SidecarDown:
		if s.Up != nil {
			return s.Up()
		}
		s.Sidecar.Restart(s.T)
	}
	return true
}

func (s *SidecarFaultsOf) slow(on bool) {
	if s.SetSlow != nil {
		s.SetSlow(on)
		return
	}
	s.Slow.Store(on)
}
