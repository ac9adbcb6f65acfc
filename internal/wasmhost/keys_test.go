package wasmhost_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/idp"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"github.com/keycard-gw/keycard/internal/testing/wasmtest"
	"github.com/keycard-gw/keycard/internal/wasmhost"
)

// keyStack is the module, a real sidecar holding the keys, and a real
// HTTPS provider on loopback.
type keyStack struct {
	p         *idp.Provider
	sc        *sidecartest.Sidecar
	vm        *wasmhost.VM
	res       *compiler.Result
	keyCalls  atomic.Int64 // /v1/keys call-outs the module made
	sidecarUp atomic.Bool
}

func newKeyStack(t *testing.T, flavor string, fault idp.Fault) *keyStack {
	t.Helper()
	rk := tables.StartRemoteKeys(t, fault)
	res := rk.Res
	ks := &keyStack{p: rk.Provider, res: res, sc: rk.Sidecar}
	ks.sidecarUp.Store(true)
	cfg, conf := wasmtest.Config(t, res.Config, flavor, ks.sc.URL)
	caller := wasmhost.HTTPCaller(http.DefaultClient, map[string]string{cfg.Sidecar.Upstream: ks.sc.URL})
	counted := func(ctx context.Context, c *wasmhost.Callout) (*wasmhost.CalloutResponse, error) {
		for _, kv := range c.Headers {
			if kv[0] == ":path" && strings.HasPrefix(kv[1], "/v1/keys") {
				ks.keyCalls.Add(1)
			}
		}
		if !ks.sidecarUp.Load() {
			return nil, fmt.Errorf("connection refused")
		}
		return caller(ctx, c)
	}
	ks.vm = newVM(t, wasmhost.Options{Caller: counted, Now: time.Now, Gateway: flavor}, conf)
	return ks
}

func (ks *keyStack) token(t *testing.T, kid string) string {
	t.Helper()
	tok, err := ks.p.SignWith(kid, jwt.MapClaims{"sub": "alice", "level": 1, "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (ks *keyStack) expect(t *testing.T, what, tok string, status int, reason string) {
	t.Helper()
	r, err := ks.vm.Do(context.Background(), wasmhost.Request{Method: "GET", Authority: "api.example", Path: "/me", Headers: [][2]string{{"authorization", "Bearer " + tok}}})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	o, err := outcome(r)
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != status || (status != 200 && o.Reason != reason) {
		t.Fatalf("%s: %d %s, want %d %s", what, o.Status, o.Reason, status, reason)
	}
	if status == 200 && r.Header("x-auth-sub")[0] != "alice" {
		t.Fatalf("%s: forwarded %v", what, r.Header("x-auth-sub"))
	}
}

// bothFlavors runs f as a subtest per flavour, named for it.
func bothFlavors(t *testing.T, f func(t *testing.T, flavor string)) {
	for _, flavor := range []string{config.GatewayEnvoy, config.GatewayKong} {
		t.Run(flavor, func(t *testing.T) { f(t, flavor) })
	}
}

// TestRemoteKeysRotation: keys arrive on the first token that needs
// them; a token signed with a new key passes once the set is fetched
// again, with no restart; a token whose key the provider retired is
// refused once the set the filter polls no longer has it.
func TestRemoteKeysRotation(t *testing.T) {
	bothFlavors(t, func(t *testing.T, flavor string) {
		ks := newKeyStack(t, flavor, idp.Healthy)
		if got := ks.vm.TickPeriod(); got != time.Second {
			t.Fatalf("tick period %s, want 1s", got)
		}
		ks.expect(t, "first token", ks.token(t, ""), 200, "")
		if n := ks.keyCalls.Load(); n != 1 {
			t.Fatalf("%d key fetches for the first token, want 1", n)
		}
		tables.RunRemoteKeys(t, ks.p, modelKeys{t, ks})
	})
}

// modelKeys is the module in the wazero model as a remote-keys target:
// one VM, whose requests wait for the keys a fetch brings.
type modelKeys struct {
	t  *testing.T
	ks *keyStack
}

func (m modelKeys) Me(tok string) (int, string, string, error) {
	r, err := m.ks.vm.Do(context.Background(), wasmhost.Request{Method: "GET", Authority: "api.example", Path: "/me", Headers: [][2]string{{"authorization", "Bearer " + tok}}})
	if err != nil {
		return 0, "", "", err
	}
	o, err := outcome(r)
	sub := ""
	if v := r.Header("x-auth-sub"); len(v) > 0 {
		sub = v[0]
	}
	return o.Status, o.Reason, sub, err
}

// Tick lets d pass, then runs the VM's tick as the host's timer would.
func (m modelKeys) Tick(d time.Duration) {
	time.Sleep(d)
	if _, err := m.ks.vm.Tick(context.Background()); err != nil {
		m.t.Fatal(err)
	}
}

func (modelKeys) Waits() bool { return true }

// TestUnknownKidFlood: 10,000 tokens with made-up kids make at most one
// key fetch per min_interval, and each is refused.
func TestUnknownKidFlood(t *testing.T) {
	bothFlavors(t, func(t *testing.T, flavor string) {
		ks := newKeyStack(t, flavor, idp.Healthy)
		ks.expect(t, "keys", ks.token(t, ""), 200, "")
		before, fetchesBefore := ks.keyCalls.Load(), ks.p.Fetches()
		good := ks.token(t, "")
		_, rest, _ := strings.Cut(good, ".")
		start := time.Now()
		for i := range 10000 {
			h := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"alg":"ES256","kid":"made-up-%d"}`, i))
			ks.expect(t, "made-up kid", h+"."+rest, 401, "invalid_token")
		}
		elapsed := time.Since(start)
		limit := int64(elapsed/(200*time.Millisecond)) + 1
		if n := ks.keyCalls.Load() - before; n > limit {
			t.Fatalf("%d key fetches by the filter in %s, want at most %d", n, elapsed, limit)
		}
		if n := ks.p.Fetches() - fetchesBefore; n > limit+1 { // +1: the sidecar's own refresh
			t.Fatalf("%d provider fetches in %s, want at most %d", n, elapsed, limit+1)
		}
		t.Logf("10000 made-up kids in %s: %d filter fetches, %d provider fetches", elapsed.Round(time.Millisecond), ks.keyCalls.Load()-before, ks.p.Fetches()-fetchesBefore)
	})
}

// TestNoKeysYet: while the provider has never answered, a token of its
// issuer gets 503 keys_unavailable (the on_error decision), not 401.
func TestNoKeysYet(t *testing.T) {
	bothFlavors(t, func(t *testing.T, flavor string) {
		ks := newKeyStack(t, flavor, idp.Status500)
		ks.expect(t, "no keys", ks.token(t, ""), 503, "keys_unavailable")
		ks.expect(t, "still none, within min_interval", ks.token(t, ""), 503, "keys_unavailable")
		ks.p.SetFault(idp.Healthy)
		time.Sleep(250 * time.Millisecond)
		ks.expect(t, "provider back", ks.token(t, ""), 200, "")
	})
}

// TestSidecarDownKeysCached: with the sidecar gone, verification goes on
// with the keys the filter has, and a failed poll keeps them.
func TestSidecarDownKeysCached(t *testing.T) {
	bothFlavors(t, func(t *testing.T, flavor string) {
		ks := newKeyStack(t, flavor, idp.Healthy)
		ks.expect(t, "keys", ks.token(t, ""), 200, "")
		ks.expect(t, "secret", ks.loginToken(t), 200, "")
		ks.sidecarUp.Store(false)
		time.Sleep(1100 * time.Millisecond) // the poll is due
		if _, err := ks.vm.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		ks.expect(t, "a new token, sidecar down", ks.token(t, ""), 200, "")
		ks.expect(t, "an HMAC token, sidecar down", ks.loginToken(t), 200, "")
	})
}

// TestRuntimeSecret: the HMAC issuer's secret is not in the
// configuration; the sidecar hands it over and its tokens verify.
func TestRuntimeSecret(t *testing.T) {
	bothFlavors(t, func(t *testing.T, flavor string) {
		ks := newKeyStack(t, flavor, idp.Healthy)
		conf, _ := json.Marshal(ks.res.Config)
		if strings.Contains(string(conf), base64.RawURLEncoding.EncodeToString([]byte(tables.RuntimeSecret))) || strings.Contains(string(conf), tables.RuntimeSecret) {
			t.Fatal("the configuration carries the run-time secret")
		}
		ks.expect(t, "HS256 with the run-time secret", ks.loginToken(t), 200, "")
		bad, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "https://login.example", "sub": "alice", "level": 1}).SignedString([]byte(strings.Repeat("x", 40)))
		ks.expect(t, "HS256 with another secret", bad, 401, "invalid_token")
	})
}

func (ks *keyStack) loginToken(t *testing.T) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "https://login.example", "sub": "alice", "level": 1, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(tables.RuntimeSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestProviderFaults: whatever way the provider fails, the filter keeps
// verifying with the last good keys, a token of a key it never got is
// refused, and the sidecar counts the failure.
func TestProviderFaults(t *testing.T) {
	for _, tc := range tables.ProviderFaults {
		t.Run(tc.Name, func(t *testing.T) {
			ks := newKeyStack(t, config.GatewayEnvoy, idp.Healthy)
			ks.p.SlowBy = 2 * time.Second // the policy's timeout is 500ms
			good, goodKid := ks.token(t, ""), ks.p.Kid()
			ks.expect(t, "keys", good, 200, "")
			ks.p.SetFault(tc.Fault)
			newKid, _ := ks.p.Rotate() // published only while the provider fails
			time.Sleep(250 * time.Millisecond)
			ks.expect(t, "a key the filter never got", ks.token(t, newKid), 401, "invalid_token")
			ks.expect(t, "the last good key", good, 200, "")
			ks.expect(t, "a new token of the last good key", ks.tokenWith(t, goodKid, "alice"), 200, "")
			resp, err := http.Get(ks.sc.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprintf(`keycard_sidecar_key_fetches_total{issuer="idp",outcome=%q} `, tc.Outcome); !strings.Contains(string(body), want) || strings.Contains(string(body), want+"0\n") {
				t.Errorf("the sidecar did not count %s:\n%s", tc.Outcome, body)
			}
		})
	}
}

func (ks *keyStack) tokenWith(t *testing.T, kid, sub string) string {
	t.Helper()
	tok, err := ks.p.SignWith(kid, jwt.MapClaims{"sub": sub, "level": 1, "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
