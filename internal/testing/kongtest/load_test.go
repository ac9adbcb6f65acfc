package kongtest

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/internal/testing/tables"
)

// kind is one sort of request in the load mix and what it must get.
type kind struct {
	target string
	header http.Header
	status int
}

func (st *stack) mix(t testing.TB) []kind {
	tok := st.token(t, "13000000051", "load", 1)
	auth := http.Header{"Authorization": {"Bearer " + tok}}
	return []kind{
		{"/", nil, 200},
		{"/auth", auth, 200},
		{"/auth", nil, 401},
		{"/admin/x", auth, 403},
		{"/auth", http.Header{"Authorization": {"Bearer " + tok + "x"}}, 401},
	}
}

// client keeps connections alive, as a load balancer in front of Kong
// would.
func client(conns int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
}

// sendAll sends n requests from conc goroutines over c, the i-th (from
// 1) of the kind pick gives, and returns how many failed: an error, or
// another status than the kind's. failed, when not nil, hears of each.
func sendAll(c *http.Client, base string, n, conc int, pick func(i int) kind, failed func(k kind, status int, err error)) int64 {
	var next, failures atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				k := pick(int(i))
				if status, err := do(c, base, k); err != nil || status != k.status {
					failures.Add(1)
					if failed != nil {
						failed(k, status, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	return failures.Load()
}

// sendUntilStopped sends k's request from conc goroutines over c until
// the function it returns is called, which waits for them; seen hears of
// every answer.
func sendUntilStopped(c *http.Client, base string, k kind, conc int, seen func(status int, err error)) (stop func()) {
	var stopped atomic.Bool
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped.Load() {
				status, err := do(c, base, k)
				seen(status, err)
			}
		}()
	}
	return func() {
		stopped.Store(true)
		wg.Wait()
	}
}

func do(c *http.Client, base string, k kind) (int, error) {
	req, err := http.NewRequest("GET", base+k.target, nil)
	if err != nil {
		return 0, err
	}
	req.Host = "a.shop.example"
	for name, v := range k.header {
		req.Header[name] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// testLoad sends 5,000 requests at concurrency 32: every answer must be
// the right one, no worker may crash, and the worker's memory must stay
// flat once warm.
func (st *stack) testLoad(t *testing.T) {
	const total, conc = 5000, 32
	mix := st.mix(t)
	c := client(conc)
	workers := st.gw.Workers()
	if len(workers) != 1 {
		t.Fatalf("%d workers, want 1", len(workers))
	}
	var reported atomic.Int64
	run := func(n int) int64 {
		return sendAll(c, st.gw.URL(), n, conc, func(i int) kind { return mix[i%len(mix)] }, func(k kind, status int, err error) {
			if reported.Add(1) <= 5 {
				t.Errorf("%s: %d %v, want %d", k.target, status, err, k.status)
			}
		})
	}
	run(1000) // warm: caches filled, the VM's heap at its working size
	warm, err := RSS(workers[0])
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	failed := run(total)
	elapsed := time.Since(start)
	end, err := RSS(workers[0])
	if err != nil {
		t.Fatalf("the worker is gone: %v", err)
	}
	t.Logf("%d requests at concurrency %d in %v (%.0f/s), %d failed; worker RSS %d KiB warm, %d KiB after", total, conc, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), failed, warm, end)
	if failed > 0 {
		t.Errorf("%d of %d requests failed", failed, total)
	}
	if end-warm > 8<<10 {
		t.Errorf("worker RSS grew by %d KiB over %d requests", end-warm, total)
	}
	if now := st.gw.Workers(); len(now) != 1 || now[0] != workers[0] {
		t.Errorf("workers %v, were %v: one was replaced", now, workers)
	}
}

// testReload changes the policy (/auth on service_a needs level 2) and
// has nginx reload while requests flow: every request gets the old or
// the new decision, none fails, and once the old worker is gone only the
// new decision is given.
func (st *stack) testReload(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"shop.yaml", "services.yaml"} {
		data, err := os.ReadFile(filepath.Join(root, "policies", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "services.yaml" {
			changed := strings.Replace(string(data), "{path: /auth, access: user}", "{path: /auth, access: admin}", 1)
			if changed == string(data) {
				t.Fatal("services.yaml has no /auth route to change")
			}
			data = []byte(changed)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.CopyFS(filepath.Join(dir, "keys"), os.DirFS(filepath.Join(root, "policies", "keys"))); err != nil {
		t.Fatal(err)
	}
	changed := tables.Example(t, dir)
	level1 := http.Header{"Authorization": {"Bearer " + st.token(t, "13000000052", "reload", 1)}}
	k := kind{"/auth", level1, 0}
	// The new worker compiles the module before it accepts (a few
	// seconds with V8, over ten on a busy machine), and nginx queues
	// the connections meanwhile: a request may wait that long, and must
	// still not fail.
	c := client(4)
	c.Timeout = time.Minute
	old := st.gw.Workers()

	var sent, oldSeen, newSeen, failed atomic.Int64
	stop := sendUntilStopped(c, st.gw.URL(), k, 4, func(status int, err error) {
		sent.Add(1)
		switch {
		case err == nil && status == 200:
			oldSeen.Add(1)
		case err == nil && status == 403:
			newSeen.Add(1)
		default:
			if failed.Add(1) <= 5 {
				t.Errorf("during the reload: %d %v", status, err)
			}
		}
	})
	time.Sleep(200 * time.Millisecond)
	st.gw.Reload(t, st.conf(t, changed))
	deadline := time.Now().Add(60 * time.Second)
	for !gone(old, st.gw.Workers()) {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("the old worker still runs 60s after the reload:\n%s", st.gw.ErrorLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := newSeen.Load()
	for deadline := time.Now().Add(60 * time.Second); newSeen.Load() == before && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	stop()
	t.Logf("%d requests during the reload: %d old decision, %d new, %d failed", sent.Load(), oldSeen.Load(), newSeen.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d requests failed during the reload", failed.Load())
	}
	if newSeen.Load() == before {
		t.Error("no request got the new decision after the old worker left")
	}
	for i := range 20 {
		if status, err := do(c, st.gw.URL(), k); err != nil || status != 403 {
			t.Fatalf("after the reload, request %d: %d %v, want 403", i, status, err)
		}
	}
	if status, err := do(c, st.gw.URL(), kind{"/", nil, 200}); err != nil || status != 200 {
		t.Errorf("public route after the reload: %d %v", status, err)
	}
}

// gone reports whether none of the old workers is among now.
func gone(old, now []int) bool {
	for _, o := range old {
		for _, n := range now {
			if o == n {
				return false
			}
		}
	}
	return true
}
