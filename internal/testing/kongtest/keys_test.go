package kongtest

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/internal/idp"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
	"github.com/keycard-gw/keycard/internal/testing/tables"
)

// TestRemoteKeysInKong runs remote keys in the real host: the key fetch
// a request makes (host:port upstream, answer on the request's own
// instance), the root's tick period and its poll (call-outs from
// on_tick), rotation, a retired key, a flood of made-up kids, and a
// run-time secret.
func TestRemoteKeysInKong(t *testing.T) {
	nginx := host(t)
	p, err := idp.Start("", "")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	res := tables.CompileRemoteKeys(t, p.URL, sidecartest.GatewayKey)
	sc := sidecartest.StartHolding(t, res.Config, p.Client(), func(string) ([]byte, error) { return []byte(tables.RuntimeSecret), nil })
	module := buildModule(t)
	echo := strings.TrimPrefix(StartEcho(t).URL, "http://")
	files := kongFiles(t, res, module, strings.TrimPrefix(sc.URL, "http://"))
	gw := Start(t, nginx, Conf{Files: files, Module: module, Upstream: echo, Workers: 2})
	get := func(tok string) *Response {
		t.Helper()
		r, err := raw(gw.Ports.ProxyAddr(), "GET", "api.example", "/me", bearer(tok), nil, "")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	expect := func(what, tok string, status int, reason string) {
		t.Helper()
		r := get(tok)
		if r.Status != status || (status != 200 && r.Reason != reason) {
			t.Fatalf("%s: %d %s, want %d %s\n%s", what, r.Status, r.Reason, status, reason, tail(gw.ErrorLog()))
		}
		if status == 200 && strings.Join(r.Echo.Headers["x-auth-sub"], ",") != "alice" {
			t.Fatalf("%s: upstream got %v", what, r.Echo.Headers)
		}
	}
	sign := func(kid string) string {
		t.Helper()
		tok, err := p.SignWith(kid, jwt.MapClaims{"sub": "alice", "level": 1, "exp": time.Now().Add(time.Hour).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// settle waits, within a bound, until six requests in a row with tok
	// pass: each worker has its own VM and fetches for itself, and on
	// Kong a request that finds a fetch in flight (its worker's tick) is
	// decided with the keys at hand instead of waiting; a worker whose
	// tick fetched the set just before the sidecar saw a new key waits
	// out min_interval (200ms) before it asks again.
	settle := func(what, tok string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for passed := 0; passed < 6; {
			r := get(tok)
			switch {
			case r.Status == 200:
				passed++
			case r.Status == 401 || r.Status == 503 && r.Reason == "keys_unavailable":
				passed = 0
			default:
				t.Fatalf("%s: %d %s", what, r.Status, r.Reason)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still refused after 3s\n%s", what, tail(gw.ErrorLog()))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	old := sign("")
	settle("first tokens", old)
	login, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "https://login.example", "sub": "alice", "level": 1, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(tables.RuntimeSecret))
	expect("run-time secret", login, 200, "")

	newKid, _ := p.Rotate()
	time.Sleep(250 * time.Millisecond)
	fresh := sign(newKid)
	settle("rotated key", fresh)

	// Made-up kids: the provider sees at most one fetch per min_interval
	// (plus the sidecar's own refresh every second), however many
	// requests and workers.
	before := p.Fetches()
	start := time.Now()
	_, rest, _ := strings.Cut(fresh, ".")
	for i := range 1000 {
		h := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"alg":"ES256","kid":"made-up-%d"}`, i))
		expect("made-up kid", h+"."+rest, 401, "invalid_token")
	}
	elapsed := time.Since(start)
	if n, limit := p.Fetches()-before, int64(elapsed/(200*time.Millisecond))+int64(elapsed/time.Second)+2; n > limit {
		t.Fatalf("%d provider fetches in %s for 1000 made-up kids, want at most %d", n, elapsed, limit)
	}
	t.Logf("1000 made-up kids in %s: %d provider fetches", elapsed.Round(time.Millisecond), p.Fetches()-before)

	// Retire the old key: the sidecar's refresh drops it, the filter's
	// tick polls the sidecar, and the old token is refused by every
	// worker.
	p.Retire()
	deadline := time.Now().Add(10 * time.Second)
	for refused := 0; refused < 6; {
		if r := get(old); r.Status == 401 {
			refused++
		} else {
			refused = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("a token of a retired key still passes after 10s\n%s", tail(gw.ErrorLog()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	expect("current key after the retirement", fresh, 200, "")
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
