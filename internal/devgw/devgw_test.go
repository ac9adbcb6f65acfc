package devgw

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/internal/policycases"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"github.com/keycard-gw/keycard/internal/testing/wasmtest"
)

// start builds the module and starts keycard dev on the example policy,
// as `make demo` does, on a free port.
func start(t *testing.T) *Gateway {
	t.Helper()
	g, _ := startWith(t, filepath.Join("..", "..", "policies"))
	return g
}

// startWith starts keycard dev on a policy and returns its access log.
func startWith(t *testing.T, policy string) (*Gateway, func() string) {
	t.Helper()
	t.Setenv("KEYCARD_DEMO_SECRET", "keycard-demo-secret-not-for-production")
	wasm := wasmtest.Module(t, filepath.Join("..", ".."))
	var access strings.Builder
	var mu sync.Mutex
	g, err := Start(context.Background(), Options{
		Policy: []string{policy}, Wasm: wasm, Listen: "127.0.0.1:0", ProviderListen: "127.0.0.1:0",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), AccessLog: lockedWriter{&mu, &access},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g, func() string { mu.Lock(); defer mu.Unlock(); return access.String() }
}

// TestShadowInDev: keycard dev runs a shadowed route through to its
// upstream and shows the would-be denial in its log.
func TestShadowInDev(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "policies")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "policies"))); err != nil {
		t.Fatal(err)
	}
	svc := filepath.Join(dir, "services.yaml")
	src, _ := os.ReadFile(svc)
	os.WriteFile(svc, []byte(strings.Replace(string(src), "{path: /admin/**, access: admin, methods: [GET, POST]}", "{path: /admin/**, access: admin, methods: [GET, POST], mode: shadow}", 1)), 0o644)
	g, access := startWith(t, dir)
	tok, err := mint.Token(g.Result.Config, "login", "", mint.Claims{Subject: "13000000001", Level: 1, JTI: mint.RandomID(), TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a := do(t, g, "GET", "a.shop.example", "/admin/users", [][2]string{{"Authorization", "Bearer " + tok}})
	if a.status != 200 {
		t.Errorf("a shadowed route: %d %q", a.status, a.reason)
	}
	if log := access(); !strings.Contains(log, "filter: keycard: shadow-deny policy=shop") || !strings.Contains(log, "reason=insufficient_level service=service_a route=/admin/**") {
		t.Errorf("the access log does not show the shadowed denial:\n%s", log)
	}
	if a := do(t, g, "GET", "a.shop.example", "/auth", nil); a.status != 401 {
		t.Errorf("an enforced route: %d", a.status)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type answer struct {
	status int
	reason string
	body   map[string]any
}

func do(t *testing.T, g *Gateway, method, host, path string, headers [][2]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+g.Addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for _, h := range headers {
		req.Header.Add(h[0], h[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode}
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &a.body)
	if r, ok := a.body["reason"].(string); ok {
		a.reason = r
	}
	return a
}

// TestDemo is the README's curl scenarios as assertions.
func TestDemo(t *testing.T) {
	g := start(t)
	scenarios, err := g.Demo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scenarios {
		t.Run(s.Name, func(t *testing.T) {
			a := do(t, g, s.Method, s.Host, s.Path, s.Headers)
			if a.status != s.Status || a.reason != s.Reason {
				t.Errorf("got %d %q, want %d %q", a.status, a.reason, s.Status, s.Reason)
			}
		})
	}
	if wrong := g.Check(scenarios); len(wrong) > 0 {
		t.Errorf("the demo's lines do not hold: %v", wrong)
	}
	// An allowed request reaches the demo upstream with the identity
	// headers, and a client-sent copy is gone.
	a := do(t, g, "GET", "a.shop.example", "/auth", append(scenarios[1].Headers, [2]string{"X-Auth-Level", "9"}))
	headers, _ := a.body["data"].(map[string]any)["header"].(map[string]any)
	if headers["X-Auth-Phone"] != "13000000001" || headers["X-Auth-Level"] != "1" {
		t.Errorf("upstream saw %v", headers)
	}
}

func post(t *testing.T, g *Gateway, path, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("POST", g.SidecarURL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Admin-Key", g.AdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env map[string]any
	json.NewDecoder(resp.Body).Decode(&env)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %v", path, resp.StatusCode, env)
	}
	return env
}

// TestRevokeAndConflictFlows drives the business endpoints over HTTP the
// way a login service would, and the gateway over HTTP as a client.
func TestRevokeAndConflictFlows(t *testing.T) {
	g := start(t)
	cache := time.Duration(g.Result.Config.Sessions.CacheMillis)*time.Millisecond + 100*time.Millisecond
	mintFor := func(sub string, level int) string {
		tok, err := mint.Token(g.Result.Config, "login", "", mint.Claims{Subject: sub, Level: level, JTI: mint.RandomID()}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	bearer := func(tok string) [][2]string { return [][2]string{{"Authorization", "Bearer " + tok}} }

	// Opaque token: issued, used, revoked.
	opaque := post(t, g, "/auth/getToken", `{"userId":"u-e2e","param":{"timeout":"600"}}`)["data"].(string)
	if a := do(t, g, "GET", "a.shop.example", "/", [][2]string{{"X-Auth-Token", opaque}}); a.status != 200 {
		t.Errorf("public route with an opaque token: %d", a.status)
	}
	if a := do(t, g, "GET", "a.shop.example", "/health", [][2]string{{"X-Auth-Token", opaque}}); a.status != 200 {
		t.Errorf("opaque token on an optional route: %d %s", a.status, a.reason)
	}
	post(t, g, "/auth/delToken", `{"token":"`+opaque+`"}`)
	time.Sleep(cache)
	if a := do(t, g, "GET", "a.shop.example", "/health", [][2]string{{"X-Auth-Token", opaque}}); a.status != 401 || a.reason != "token_revoked" {
		t.Errorf("revoked opaque token: %d %s", a.status, a.reason)
	}

	// Single-session login: the second login supersedes the first.
	first := mintFor("13000000042", 1)
	post(t, g, "/auth/login", `{"userId":"13000000042","token":"`+first+`","single":true}`)
	if a := do(t, g, "GET", "a.shop.example", "/auth", bearer(first)); a.status != 200 {
		t.Fatalf("first login: %d %s", a.status, a.reason)
	}
	second := mintFor("13000000042", 1)
	post(t, g, "/auth/login", `{"userId":"13000000042","token":"`+second+`","single":true}`)
	time.Sleep(cache)
	if a := do(t, g, "GET", "a.shop.example", "/auth", bearer(first)); a.status != 401 || a.body["msg"] != "Token Conflict" {
		t.Errorf("first token after the second login: %d %v", a.status, a.body)
	}
	if a := do(t, g, "GET", "a.shop.example", "/auth", bearer(second)); a.status != 200 {
		t.Errorf("second token: %d %s", a.status, a.reason)
	}

	// clearToken: every device of the user.
	post(t, g, "/auth/clearToken", `{"userId":"13000000042"}`)
	time.Sleep(cache)
	if a := do(t, g, "GET", "a.shop.example", "/auth", bearer(second)); a.status != 401 || a.reason != "token_revoked" {
		t.Errorf("after clearToken: %d %s", a.status, a.reason)
	}

	// Concurrent clients over the VM pool.
	tok := mintFor("13000000043", 2)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path, want := "/admin/x", 200
			if i%2 == 1 {
				path, want = "/nope", 403
			}
			if a := do(t, g, "GET", "a.shop.example", path, bearer(tok)); a.status != want {
				errs <- path
			}
		}()
	}
	wg.Wait()
	close(errs)
	for p := range errs {
		t.Errorf("concurrent request to %s got the wrong status", p)
	}
}

// TestRotationInDev: keycard dev serves the policy's OpenID provider;
// its tokens verify through keys the sidecar fetched, and after the
// provider rotates (retiring the old key, through the commands the demo
// prints) a token of the new key passes and the old key's is refused,
// with no restart.
func TestRotationInDev(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "policies")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "policies"))); err != nil {
		t.Fatal(err)
	}
	shop := filepath.Join(dir, "shop.yaml")
	src, _ := os.ReadFile(shop)
	fast := strings.Replace(string(src), "refresh: 1m, min_interval: 5s", "refresh: 1s, min_interval: 200ms", 1)
	if fast == string(src) {
		t.Fatal("the example policy's sso issuer changed: update this test")
	}
	os.WriteFile(shop, []byte(fast), 0o644)
	g, _ := startWith(t, dir)
	p := g.Providers["sso"]
	if p == nil || g.CertFile == "" {
		t.Fatalf("no provider for issuer sso: %v", g.Providers)
	}
	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"phone": "13000000005", "level": 1, "exp": time.Now().Add(time.Hour).Unix()}
	}
	old, _ := p.Sign(claims())
	if a := do(t, g, "GET", "a.shop.example", "/auth", [][2]string{{"Authorization", "Bearer " + old}}); a.status != 200 {
		t.Fatalf("a provider token: %d %s", a.status, a.reason)
	}
	cmds := g.RotationCommands("sso")
	if len(cmds) != 3 || !strings.Contains(cmds[0], "--cacert "+g.CertFile) || !strings.Contains(cmds[0], "/rotate?retire=1") {
		t.Fatalf("rotation commands: %q", cmds)
	}
	// What the printed commands do, through the provider's HTTP API.
	client := p.Client()
	post := func(path, body string) map[string]string {
		req, _ := http.NewRequest("POST", p.URL+path, strings.NewReader(body))
		req.Header.Set("X-Admin-Key", g.AdminKey)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]string
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		return out
	}
	time.Sleep(250 * time.Millisecond)
	post("/rotate?retire=1", "")
	fresh := post("/token", `{"phone":"13000000005","level":1}`)["token"]
	// A VM whose tick fetched the set just before the sidecar saw the new
	// key waits out min_interval (200ms here) before it asks again.
	for start := time.Now(); ; {
		a := do(t, g, "GET", "a.shop.example", "/auth", [][2]string{{"Authorization", "Bearer " + fresh}})
		if a.status == 200 {
			break
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("a token of the new key still gets %d %s after 3s", a.status, a.reason)
		}
		time.Sleep(50 * time.Millisecond)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := do(t, g, "GET", "a.shop.example", "/auth", [][2]string{{"Authorization", "Bearer " + old}})
		if a.status == 401 && a.reason == "invalid_token" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retired key's token still gets %d after 10s", a.status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRoutesOnTheFiltersReading: the gateway sends a request to the
// service the filter decided on, with the path the filter read, and a
// client's Connection header cannot make it drop a header the filter set.
func TestRoutesOnTheFiltersReading(t *testing.T) {
	g := start(t)
	scenarios, err := g.Demo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a := do(t, g, "GET", "api.shop.example", "/b/../a/", nil)
	if msg, _ := a.body["msg"].(string); a.status != 200 || msg != "service_a GET /a/" {
		t.Errorf("/b/../a/ on the shared host: %d %q, want service_a's upstream at /a", a.status, msg)
	}
	user := scenarios[1].Headers
	a = do(t, g, "GET", "a.shop.example", "/auth", append(user, [2]string{"Connection", "keep-alive, X-Auth-Level, X-Auth-Phone"}))
	headers, _ := a.body["data"].(map[string]any)["header"].(map[string]any)
	if a.status != 200 || headers["X-Auth-Level"] != "1" || headers["X-Auth-Phone"] != "13000000001" {
		t.Errorf("with Connection naming the identity headers, the upstream saw %d %v", a.status, headers)
	}
}

// TestRotationPassesAtOnce is README's rotation lines with the example
// policy as it is (refresh 1m, min_interval 5s): right after the gateway
// fetched keys, a token signed with a newly rotated key passes on its
// first request, on every VM.
func TestRotationPassesAtOnce(t *testing.T) {
	g := start(t)
	p := g.Providers["sso"]
	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"phone": "13000000005", "level": 1, "exp": time.Now().Add(time.Hour).Unix()}
	}
	old, _ := p.Sign(claims())
	for range 4 { // every VM has its keys
		if a := do(t, g, "GET", "a.shop.example", "/auth", [][2]string{{"Authorization", "Bearer " + old}}); a.status != 200 {
			t.Fatalf("a provider token: %d %s", a.status, a.reason)
		}
	}
	// The printed lines, through a shell and curl, as README tells them.
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl to run the printed lines")
	}
	cmds := g.RotationCommands("sso")
	script := strings.Join(cmds, "\n") + "\n" + strings.Repeat(cmds[len(cmds)-1]+"\n", 3) // every VM
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("the rotation lines: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if got := lines[len(lines)-4:]; strings.Join(got, " ") != "200 200 200 200" {
		t.Errorf("requests with the rotated key, right after the rotation: %q, want 200 at once on every VM\n%s", got, out)
	}
}

// TestStateScenarios plays the shared token-state scenarios (tables)
// through keycard dev: its gateway, its sidecar's business API and its
// Redis, as every other target plays them.
func TestStateScenarios(t *testing.T) {
	g := start(t)
	cache := time.Duration(g.Result.Config.Sessions.CacheMillis)*time.Millisecond + 100*time.Millisecond
	call := func(path, body string) (int, string, error) {
		req, _ := http.NewRequest("POST", g.SidecarURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Admin-Key", g.AdminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var env struct {
			Data any `json:"data"`
		}
		json.NewDecoder(resp.Body).Decode(&env)
		data, _ := env.Data.(string)
		return resp.StatusCode, data, nil
	}
	target := func(method, host, path string, headers [][2]string) (policycases.Outcome, error) {
		a := do(t, g, method, host, path, headers)
		return policycases.Outcome{Status: a.status, Reason: a.reason}, nil
	}
	for _, sc := range tables.StateScenarios(g.Result.Config, "dev", time.Now()) {
		t.Run(sc.Name, func(t *testing.T) {
			if err := sc.Run(call, target, func() { time.Sleep(cache) }); err != nil {
				t.Error(err)
			}
		})
	}
}
