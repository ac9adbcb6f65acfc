package wasmhost_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/internal/policycases"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"github.com/keycard-gw/keycard/internal/testing/wasmtest"
	"github.com/keycard-gw/keycard/internal/wasmhost"
)

// clock is a host clock a test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// stateStack is the module, a real sidecar and Redis, and a clock.
type stateStack struct {
	res   *compiler.Result
	vm    *wasmhost.VM
	sc    *sidecartest.Sidecar
	clock *clock
	calls atomic.Int64
}

func newStateStack(t *testing.T, slow time.Duration) *stateStack {
	t.Helper()
	return newStateStackIn(t, config.GatewayEnvoy, slow)
}

func newStateStackIn(t *testing.T, flavor string, slow time.Duration) *stateStack {
	t.Helper()
	st := &stateStack{res: example(t), clock: &clock{now: time.Now()}}
	st.sc = sidecartest.Start(t, st.res.Config.Policy)
	cfg, conf := wasmtest.Config(t, st.res.Config, flavor, st.sc.URL)
	st.res = &compiler.Result{Policy: st.res.Policy, Config: cfg, Table: st.res.Table}
	caller := wasmhost.HTTPCaller(http.DefaultClient, map[string]string{st.res.Config.Sidecar.Upstream: st.sc.URL})
	counted := func(ctx context.Context, c *wasmhost.Callout) (*wasmhost.CalloutResponse, error) {
		st.calls.Add(1)
		time.Sleep(slow)
		return caller(ctx, c)
	}
	st.vm = newVM(t, wasmhost.Options{Caller: counted, Now: st.clock.Now, Gateway: flavor}, conf)
	return st
}

// token mints a login token for subject at the stack's time.
func (st *stateStack) token(t *testing.T, subject, jti string, level int) string {
	t.Helper()
	tok, err := mint.Token(st.res.Config, "login", "", mint.Claims{Subject: subject, Level: level, JTI: jti}, st.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// get sends GET a.shop.example PATH with the token and returns the
// status (200 when allowed) and the decision's reason.
func (st *stateStack) get(t *testing.T, path, tok string) (int, string) {
	t.Helper()
	r, err := st.vm.Do(context.Background(), wasmhost.Request{Method: "GET", Authority: "a.shop.example", Path: path, Headers: [][2]string{{"authorization", "Bearer " + tok}}})
	if err != nil {
		t.Fatal(err)
	}
	o, err := outcome(r)
	if err != nil {
		t.Fatal(err)
	}
	return o.Status, o.Reason
}

func (st *stateStack) expect(t *testing.T, what, path, tok string, status int, reason string) {
	t.Helper()
	got, why := st.get(t, path, tok)
	if got != status || (status != 200 && why != reason) {
		t.Errorf("%s: got %d %s, want %d %s", what, got, why, status, reason)
	}
}

func TestRevokeAfterCache(t *testing.T) {
	st := newStateStack(t, 0)
	tok := st.token(t, "13000000001", "r1", 1)
	st.sc.Post(t, "/auth/login", `{"userId":"13000000001","token":"`+tok+`"}`)
	st.expect(t, "before revoke", "/auth", tok, 200, "")
	st.sc.Post(t, "/auth/delToken", `{"token":"`+tok+`"}`)
	st.expect(t, "within the cache", "/auth", tok, 200, "")
	st.clock.Add(1100 * time.Millisecond) // sessions.cache is 1s
	st.expect(t, "after the cache", "/auth", tok, 401, "token_revoked")
}

func TestClearTokenEveryDevice(t *testing.T) {
	st := newStateStack(t, 0)
	phone, laptop := st.token(t, "13000000007", "phone", 1), st.token(t, "13000000007", "laptop", 1)
	for _, tok := range []string{phone, laptop} {
		st.sc.Post(t, "/auth/login", `{"userId":"13000000007","token":"`+tok+`"}`)
		st.expect(t, "logged in", "/auth", tok, 200, "")
	}
	st.sc.Post(t, "/auth/clearToken", `{"userId":"13000000007"}`)
	st.clock.Add(2 * time.Second)
	st.expect(t, "phone after clear", "/auth", phone, 401, "token_revoked")
	st.expect(t, "laptop after clear", "/auth", laptop, 401, "token_revoked")
}

func TestTokenConflict(t *testing.T) {
	st := newStateStack(t, 0)
	old := st.token(t, "13000000002", "old", 2)
	st.sc.Post(t, "/auth/login", `{"userId":"13000000002","token":"`+old+`","single":true}`)
	st.expect(t, "first login", "/admin/x", old, 200, "")
	newer := st.token(t, "13000000002", "new", 2)
	st.sc.Post(t, "/auth/login", `{"userId":"13000000002","token":"`+newer+`","single":true}`)
	st.clock.Add(2 * time.Second)
	st.expect(t, "old token", "/admin/x", old, 401, "token_conflict")
	st.expect(t, "new token", "/admin/x", newer, 200, "")
	r, _ := st.vm.Do(context.Background(), wasmhost.Request{Method: "GET", Authority: "a.shop.example", Path: "/auth", Headers: [][2]string{{"authorization", "Bearer " + old}}})
	if r.Response == nil || string(r.Response.Body) != `{"code":401,"success":false,"data":"","msg":"Token Conflict","reason":"token_conflict"}` {
		t.Errorf("conflict body: %+v", r.Response)
	}
}

func TestOpaqueToken(t *testing.T) {
	st := newStateStack(t, 0)
	st.sc.Post(t, "/user/roles", `{"userId":"u-legacy","roles":[{"roleId":"support","perms":[]}],"type":"2","status":"1","level":1}`)
	tok := st.sc.PostData(t, "/auth/getToken", `{"userId":"u-legacy","param":{"timeout":"600"}}`)
	r, err := st.vm.Do(context.Background(), wasmhost.Request{Method: "GET", Authority: "a.shop.example", Path: "/tickets/5", Headers: [][2]string{{"x-auth-token", tok}}})
	if err != nil || !r.Allowed() {
		t.Fatalf("opaque token: %v %+v", err, r.Response)
	}
	if got := r.Header("x-auth-phone"); len(got) != 1 || got[0] != "u-legacy" {
		t.Errorf("x-auth-phone = %v", got)
	}
	st.expect(t, "opaque level 1 on /auth", "/auth", tok, 200, "")
	st.expect(t, "opaque level 1 on /admin", "/admin/x", tok, 403, "insufficient_level")
	st.expect(t, "unknown opaque token", "/auth", "0123456789abcdef0123456789abcdef", 401, "invalid_token")
	st.sc.Post(t, "/auth/delToken", `{"token":"`+tok+`"}`)
	st.clock.Add(2 * time.Second)
	st.expect(t, "revoked opaque token", "/auth", tok, 401, "token_revoked")
}

func TestDisabledAndPatterns(t *testing.T) {
	st := newStateStack(t, 0)
	tok := st.token(t, "13000000009", "d1", 1)
	st.sc.Post(t, "/user/roles", `{"userId":"13000000009","roles":[{"roleId":"x","perms":["/admin/reports/[0-9]+"]}],"excludes":["/auth"],"type":"2","status":"1"}`)
	st.expect(t, "deny pattern", "/auth", tok, 403, "user_denied")
	st.expect(t, "allow pattern over level", "/admin/reports/7", tok, 200, "")
	st.expect(t, "allow pattern is anchored", "/admin/reports/7/x", tok, 403, "insufficient_level")
	st.sc.Post(t, "/user/roles", `{"userId":"13000000009","status":"0","statusDesc":"locked"}`)
	st.clock.Add(2 * time.Second)
	st.expect(t, "disabled user", "/", tok, 200, "")
	st.expect(t, "disabled user", "/health", tok, 403, "user_disabled")
}

// TestConcurrentRequestsShareOneCall: on Envoy, requests for one token
// that arrive while its sidecar call is in flight wait for that call. On
// Kong a call's answer resumes only the request that made it (the host
// ignores proxy_set_effective_context), so every request makes its own.
func TestConcurrentRequestsShareOneCall(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flavor string
		calls  int64
	}{{"envoy", config.GatewayEnvoy, 1}, {"kong", config.GatewayKong, 8}} {
		t.Run(tc.name, func(t *testing.T) { concurrentCalls(t, tc.flavor, tc.calls) })
	}
}

func concurrentCalls(t *testing.T, flavor string, calls int64) {
	st := newStateStackIn(t, flavor, 50*time.Millisecond)
	tok := st.token(t, "13000000011", "c1", 1)
	var wg sync.WaitGroup
	var allowed atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s, _ := st.get(t, "/auth", tok); s == 200 {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 8 || st.calls.Load() != calls {
		t.Errorf("%d allowed, %d sidecar calls; want 8 and %d", allowed.Load(), st.calls.Load(), calls)
	}
}

// TestFaults stops Redis, then the sidecar, while requests flow: under
// on_error deny nothing is allowed that should not be, requests get 503
// while state is unknown, and everything recovers without restarting the
// sidecar or the filter.
func TestFaults(t *testing.T) {
	st := newStateStack(t, 0)
	good := st.token(t, "13000000021", "f-good", 1)
	revoked := st.token(t, "13000000021", "f-revoked", 1)
	st.sc.Post(t, "/auth/delToken", `{"token":"`+revoked+`","userId":"13000000021"}`)
	check := func(phase string, wantGood int, wantGoodReason string) {
		t.Helper()
		st.clock.Add(2 * time.Second) // past sessions.cache: every request asks again
		for range 10 {
			st.expect(t, phase+": good token", "/auth", good, wantGood, wantGoodReason)
			if s, why := st.get(t, "/auth", revoked); s == 200 {
				t.Fatalf("%s: revoked token allowed", phase)
			} else if s != 401 && s != 503 {
				t.Errorf("%s: revoked token got %d %s", phase, s, why)
			}
		}
	}
	check("healthy", 200, "")
	st.sc.Redis.Stop()
	check("redis down", 503, "sidecar_unavailable")
	st.sc.Redis.Restart() // empty: the revocation is gone with the data
	t.Logf("the sidecar reached Redis again %v after the restart", st.sc.WaitReady(t))
	st.sc.Post(t, "/auth/delToken", `{"token":"`+revoked+`","userId":"13000000021"}`)
	check("redis back", 200, "")
	st.sc.Stop()
	check("sidecar down", 503, "sidecar_unavailable")
	st.sc.Restart(t)
	check("sidecar back", 200, "")
}

// TestKongFlavor: Kong addresses the sidecar as host:port and reports a
// failed call-out with a :dispatch_status header; both hosts must end in
// the on_error decision.
func TestKongFlavor(t *testing.T) {
	res := example(t)
	sc := sidecartest.Start(t, res.Config.Policy)
	cfg, conf := wasmtest.Config(t, res.Config, config.GatewayKong, sc.URL)
	caller := wasmhost.HTTPCaller(http.DefaultClient, map[string]string{cfg.Sidecar.Upstream: sc.URL})
	vm := newVM(t, wasmhost.Options{Gateway: config.GatewayKong, Caller: caller}, conf)
	tok, err := mint.Token(res.Config, "login", "", mint.Claims{Subject: "13000000031", Level: 1, JTI: "k1"}, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	req := wasmhost.Request{Method: "GET", Authority: "a.shop.example", Path: "/auth", Headers: [][2]string{{"authorization", "Bearer " + tok}}}
	r, err := vm.Do(context.Background(), req)
	if err != nil || !r.Allowed() || len(r.Callouts) != 1 || r.Callouts[0].Upstream != cfg.Sidecar.Upstream {
		t.Fatalf("through Kong's call-out: %v %+v", err, r)
	}
	// A failed call-out (Kong: :dispatch_status) ends in 503 under deny.
	failing := newVM(t, wasmhost.Options{Gateway: config.GatewayKong}, conf)
	r, err = failing.Do(context.Background(), req)
	if err != nil || r.Response == nil || r.Response.Status != 503 {
		t.Fatalf("failed call-out: %v %+v", err, r)
	}
	// An Envoy cluster name is not host:port: Kong's host refuses it.
	cluster := cfg
	cluster.Sidecar.Upstream = res.Config.Sidecar.Upstream
	clusterConf, _ := json.Marshal(&cluster)
	bad := newVM(t, wasmhost.Options{Gateway: config.GatewayKong}, clusterConf)
	if _, err := bad.Do(context.Background(), req); err == nil || !strings.Contains(err.Error(), `Kong needs host:port, not "keycard_sidecar"`) {
		t.Errorf("cluster name on Kong: %v", err)
	}
}

// TestFailClosed: the module's failure paths end in a refusal, never in
// a request let through undecided or one that hangs.
func TestFailClosed(t *testing.T) {
	st := newStateStack(t, 0)
	tok := st.token(t, "13000000071", "fc1", 1)
	ctx := context.Background()
	r, err := st.vm.Do(ctx, wasmhost.Request{Method: "GET", Authority: "a.shop.example", Path: "/", Parent: 99, Headers: [][2]string{{"x-auth-level", "2"}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Response == nil || r.Response.Status != 500 || !strings.Contains(string(r.Response.Body), `"reason":"unknown_context"`) {
		t.Errorf("a stream under an unknown root: %+v", r)
	}
	r, err = st.vm.Do(ctx, wasmhost.Request{Method: "GET", Authority: "a.shop.example", Path: "/auth", AnswerTo: 77, Headers: [][2]string{{"authorization", "Bearer " + tok}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Response == nil || r.Response.Status != 503 || !strings.Contains(string(r.Response.Body), `"reason":"sidecar_unavailable"`) {
		t.Errorf("a call-out answer delivered to a context that is not a root: %+v", r)
	}
}

// TestRewrittenTokenStaysRevoked: a token without jti is named by what
// was signed, so rewriting its ECDSA signature as (r, n−s), which still
// verifies, does not give a revoked token a new, unknown name; a token
// whose base64url has spare bits set (another string for the same bytes)
// is refused in every segment.
func TestRewrittenTokenStaysRevoked(t *testing.T) {
	st := newStateStack(t, 0)
	key := filepath.Join("..", "..", "testdata", "keys", "partner-es256.key.pem")
	partner := func(subject string) string {
		tok, err := mint.Token(st.res.Config, "partner", key, mint.Claims{Subject: subject, Level: 1}, st.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	fresh := partner("p-71")
	st.expect(t, "a malleated signature verifies", "/auth", tables.MalleateECDSA(fresh), 200, "")
	if _, ok := tables.SpareBits(fresh, 2); !ok {
		t.Fatal("an ES256 signature segment has spare bits")
	}
	revoked := partner("p-72")
	st.sc.Post(t, "/auth/delToken", `{"token":"`+revoked+`","userId":"p-72"}`)
	st.expect(t, "the revoked token", "/auth", revoked, 401, "token_revoked")
	st.expect(t, "its malleated signature", "/auth", tables.MalleateECDSA(revoked), 401, "token_revoked")
	for seg, name := range []string{"header", "payload", "signature"} {
		for _, tok := range []string{fresh, revoked} {
			if sb, ok := tables.SpareBits(tok, seg); ok {
				st.expect(t, "spare bits in the "+name, "/auth", sb, 401, "invalid_token")
			}
		}
	}
}

// TestStateScenarios plays the shared token-state attacks
// (tables.StateScenarios) against a real sidecar on Redis, natively
// and through the module as Envoy and as Kong run it.
func TestStateScenarios(t *testing.T) {
	bothFlavors(t, func(t *testing.T, flavor string) {
		st := newStateStackIn(t, flavor, 0)
		e, err := filter.New(st.res.Config, st.res.Table, st.clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		targets := map[string]policycases.Target{
			"native": policycases.Native(e, policycases.SidecarAsker(http.DefaultClient, st.sc.URL, sidecartest.GatewayKey)),
			"wasm":   wasmTarget(st.vm),
		}
		wait := func() { st.clock.Add(1100 * time.Millisecond) } // sessions.cache is 1s
		for _, target := range []string{"native", "wasm"} {
			for _, sc := range tables.StateScenarios(st.res.Config, flavor+"-"+target, time.Now()) {
				t.Run(target+"/"+sc.Name, func(t *testing.T) {
					if err := sc.Run(st.sc.Call, targets[target], wait); err != nil {
						t.Error(err)
					}
				})
			}
		}
	})
}

// TestKongAbsoluteForm: in Kong's flavour the module reads nginx's $host
// (ngx.host), which an absolute-form request line sets before the Host
// header: another host there is refused, the same host decided as usual.
func TestKongAbsoluteForm(t *testing.T) {
	res := example(t)
	vm := newVM(t, wasmhost.Options{Gateway: config.GatewayKong}, gatewayJSON(t, res, config.GatewayKong))
	for _, tc := range tables.AbsoluteForms() {
		r, err := vm.Do(context.Background(), wasmhost.Request{Method: "GET", Authority: tc.Host, Path: tc.Target})
		if err != nil {
			t.Fatal(err)
		}
		o, err := outcome(r)
		if err != nil || o.Status != tc.Status || o.Reason != tc.Reason {
			t.Errorf("%s: GET %s with Host %s: %+v %v, want %d %s", tc.Name, tc.Target, tc.Host, o, err, tc.Status, tc.Reason)
		}
	}
}

// TestCORSRequests runs the shared cross-origin table through the module
// as Envoy and as Kong run it: status, reason and the CORS headers of the
// response the client gets (the filter's own, or the upstream's with the
// headers the module adds in proxy_on_response_headers).
func TestCORSRequests(t *testing.T) {
	bothFlavors(t, func(t *testing.T, flavor string) {
		st := newStateStackIn(t, flavor, 0)
		tables.RunCORS(t, st.res.Config, time.Now(), func(t *testing.T, c tables.CORSRequest) tables.CORSAnswer {
			r, err := st.vm.Do(context.Background(), wasmhost.Request{Method: c.Method, Authority: c.Host, Path: c.Path, Headers: c.Headers})
			if err != nil {
				t.Fatal(err)
			}
			o, err := outcome(r)
			if err != nil {
				t.Fatal(err)
			}
			return tables.CORSAnswer{Status: o.Status, Reason: o.Reason, Header: tables.HeaderIn(r.ResponseHeaders)}
		})
	})
}

// TestKongSetHeaders: in Kong's flavour the upstream gets one
// X-Forwarded-Path, Kong's own, whatever the client sent; a spelling
// proxy_set_header does not replace is refused. (The model forwards a
// removed copy next to Kong's, as nginx does.)
func TestKongSetHeaders(t *testing.T) {
	res := example(t)
	vm := newVM(t, wasmhost.Options{Gateway: config.GatewayKong}, gatewayJSON(t, res, config.GatewayKong))
	for _, tc := range []struct {
		header string
		status int
	}{{"X-Forwarded-Path", 200}, {"x-forwarded-prefix", 200}, {"X_Forwarded_Path", 400}, {"X_Forwarded_Prefix", 400}} {
		r, err := vm.Do(context.Background(), wasmhost.Request{Method: "GET", Authority: "a.shop.example", Path: "/", Headers: [][2]string{{tc.header, "/admin/users"}}})
		if err != nil {
			t.Fatal(err)
		}
		o, err := outcome(r)
		if err != nil || o.Status != tc.status {
			t.Errorf("%s: %+v %v, want %d", tc.header, o, err, tc.status)
			continue
		}
		if got := r.Header("x-forwarded-path"); tc.status == 200 && !slices.Equal(got, []string{"/"}) {
			t.Errorf("%s: the upstream got X-Forwarded-Path %q, want only Kong's \"/\"", tc.header, got)
		}
		if got := r.Header("x-forwarded-prefix"); len(got) > 0 {
			t.Errorf("%s: the upstream got X-Forwarded-Prefix %q, want none", tc.header, got)
		}
	}
}

// TestSidecarFaults plays the shared sidecar faults (tables) through the
// module in both flavours: a call slower than its timeout, a sidecar
// whose Redis is down, a sidecar that refuses connections.
func TestSidecarFaults(t *testing.T) {
	bothFlavors(t, func(t *testing.T, flavor string) {
		res := example(t)
		sc := sidecartest.Start(t, res.Config.Policy)
		cfg, conf := wasmtest.Config(t, res.Config, flavor, sc.URL)
		f := &tables.SidecarFaultsOf{T: t, Sidecar: sc}
		caller := wasmhost.HTTPCaller(http.DefaultClient, map[string]string{cfg.Sidecar.Upstream: sc.URL})
		faulty := func(ctx context.Context, c *wasmhost.Callout) (*wasmhost.CalloutResponse, error) {
			if f.Slow.Load() { // the call outlives its timeout
				time.Sleep(c.Timeout)
				return nil, context.DeadlineExceeded
			}
			return caller(ctx, c)
		}
		vm := newVM(t, wasmhost.Options{Caller: faulty, Now: time.Now, Gateway: flavor}, conf)
		tables.RunSidecarFaults(t, res.Config, "model-fault-"+flavor, wasmTarget(vm), f, 2*time.Second)
	})
}
