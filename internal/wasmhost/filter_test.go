package wasmhost_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/internal/policycases"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"github.com/keycard-gw/keycard/internal/testing/wasmtest"
	"github.com/keycard-gw/keycard/internal/wasmbuild"
	"github.com/keycard-gw/keycard/internal/wasmhost"
	"github.com/tetratelabs/wazero"
)

const demoSecret = "keycard-demo-secret-not-for-production"

var fixedNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

var compileCache = wazero.NewCompilationCache()

// module is the filter built from this tree. KEYCARD_WASM_TAGS adds
// build tags: make test runs this package again with keycard_poison,
// whose module overwrites what each request read from the host before
// the next one, so that a test shows any value the filter keeps without
// copying it.
func module(t testing.TB) []byte { return wasmtest.Module(t, filepath.Join("..", "..")) }

func example(t testing.TB) *compiler.Result {
	t.Helper()
	return tables.Example(t, tables.Policies(filepath.Join("..", "..")))
}

// configJSON is the example's configuration for the Envoy flavour.
func configJSON(t testing.TB, res *compiler.Result) []byte {
	return gatewayJSON(t, res, config.GatewayEnvoy)
}

func gatewayJSON(t testing.TB, res *compiler.Result, gateway string) []byte {
	_, data := wasmtest.Config(t, res.Config, gateway, "")
	return data
}

func newVM(t testing.TB, opts wasmhost.Options, conf []byte) *wasmhost.VM {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return fixedNow }
	}
	opts.Cache = compileCache
	return wasmtest.VM(t, module(t), opts, conf)
}

// stackVM runs the module with a real sidecar and Redis behind its
// call-out.
func stackVM(t testing.TB, res *compiler.Result) (*wasmhost.VM, *sidecartest.Sidecar) {
	t.Helper()
	sc := sidecartest.Start(t, res.Config.Policy)
	caller := wasmhost.HTTPCaller(http.DefaultClient, map[string]string{res.Config.Sidecar.Upstream: sc.URL})
	return newVM(t, wasmhost.Options{Caller: caller}, configJSON(t, res)), sc
}

// wasmTarget runs policy cases through the real module.
func wasmTarget(vm *wasmhost.VM) policycases.Target {
	return func(method, host, path string, headers [][2]string) (policycases.Outcome, error) {
		r, err := vm.Do(context.Background(), wasmhost.Request{Method: method, Authority: host, Path: path, Headers: headers})
		if err != nil {
			return policycases.Outcome{}, err
		}
		o, err := outcome(r)
		if vm.Gateway() == config.GatewayKong {
			o.WithoutKongSets()
		}
		return o, err
	}
}

func outcome(r *wasmhost.Result) (policycases.Outcome, error) {
	o := policycases.Outcome{Status: 200, Headers: map[string]string{}}
	if r.Response != nil && len(r.Response.Body) == 0 && r.Response.Status == 204 {
		// An answered preflight: no body, the reason is in the details.
		o.Status, o.Reason = 204, strings.TrimPrefix(r.Response.Details, "keycard_")
		return o, nil
	}
	if r.Response != nil {
		var body struct {
			Code   int    `json:"code"`
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(r.Response.Body, &body); err != nil {
			return o, err
		}
		o.Status, o.Reason = r.Response.Status, body.Reason
		return o, nil
	}
	o.Reason = "?" // the module does not say why it let a request through
	o.Headers = policycases.Watched(r.Headers)
	return o, nil
}

func TestImportsAllowed(t *testing.T) {
	h := wasmtest.Host(t, module(t), wasmhost.Options{Cache: compileCache}) // Compile refuses a module with any other import
	f, err := os.Open(filepath.Join("..", "..", "testdata", "wasi-allowlist.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var allowed []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			allowed = append(allowed, line)
		}
	}
	if got := wasmhost.WASIFunctions(); !slices.Equal(got, allowed) {
		t.Errorf("the host offers %v, the allow-list says %v", got, allowed)
	}
	for _, imp := range wasmhost.Imports(h.Compiled()) {
		mod, name, _ := strings.Cut(imp, ".")
		if mod == "wasi_snapshot_preview1" && !slices.Contains(allowed, name) {
			t.Errorf("the module imports %s", imp)
		}
		if imp == "wasi_snapshot_preview1.path_filestat_get" {
			t.Error("path_filestat_get is still imported: wasmbuild.Patch did not run")
		}
	}
}

func TestCheckImportsRefuses(t *testing.T) {
	// Undo the fix-up: the host must refuse what Envoy would refuse.
	unpatched, err := wasmbuild.Retarget(module(t), wasmbuild.ToModule, wasmbuild.ToName, wasmbuild.FromModule, wasmbuild.FromName)
	if err != nil {
		t.Fatal(err)
	}
	_, err = wasmhost.Compile(context.Background(), unpatched, wasmhost.Options{})
	want := "wasmhost: the module imports what Envoy or Kong do not provide: wasi_snapshot_preview1.path_filestat_get"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

// TestDualRun runs every policy case natively and through the real
// module, in each host's flavour with that gateway's configuration: the
// outcomes (status, reason, forwarded headers) must agree and meet the
// case's expectation for that gateway.
func TestDualRun(t *testing.T) { bothFlavors(t, dualRun) }

func dualRun(t *testing.T, gateway string) {
	res := example(t)
	sc := sidecartest.Start(t, res.Config.Policy)
	cfg, conf := wasmtest.Config(t, res.Config, gateway, sc.URL)
	caller := wasmhost.HTTPCaller(http.DefaultClient, map[string]string{cfg.Sidecar.Upstream: sc.URL})
	vm := newVM(t, wasmhost.Options{Caller: caller, Gateway: gateway}, conf)
	e, err := filter.New(cfg, res.Table, func() time.Time { return fixedNow })
	if err != nil {
		t.Fatal(err)
	}
	files, _ := policycases.Files([]string{filepath.Join("..", "..", "policies")})
	cases, err := policycases.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	native, wasm := policycases.Native(e, policycases.SidecarAsker(http.DefaultClient, sc.URL, sidecartest.GatewayKey)), wasmTarget(vm)
	for i := range cases {
		c := &cases[i]
		t.Run(c.Name, func(t *testing.T) {
			h, err := c.Headers(cfg, fixedNow)
			if err != nil {
				t.Fatal(err)
			}
			n, err := native(c.Request.Method, c.Request.Host, c.Request.Path, h)
			if err != nil {
				t.Fatal(err)
			}
			w, err := wasm(c.Request.Method, c.Request.Host, c.Request.Path, h)
			if err != nil {
				t.Fatal(err)
			}
			if n.Status != w.Status || (n.Status != 200 && n.Reason != w.Reason) || !sameHeaders(n.Headers, w.Headers) {
				t.Errorf("native %d %s %v, wasm %d %s %v", n.Status, n.Reason, n.Headers, w.Status, w.Reason, w.Headers)
			}
			if !c.CheckOn(gateway, n) {
				t.Errorf("native outcome %v does not meet the case", n)
			}
		})
	}
}

func sameHeaders(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestAttacksThroughWasm(t *testing.T) {
	res := example(t)
	vm, _ := stackVM(t, res)
	for _, a := range tables.Attacks(res.Config, fixedNow) {
		t.Run(a.Name, func(t *testing.T) {
			method, host, path := a.Request()
			r, err := vm.Do(context.Background(), wasmhost.Request{Method: method, Authority: host, Path: path, Headers: a.Headers})
			if err != nil {
				t.Fatal(err)
			}
			o, err := outcome(r)
			if err != nil {
				t.Fatal(err)
			}
			reason := a.ReasonOn(config.GatewayEnvoy) // the VM plays Envoy
			if o.Status != a.Status || (a.Status != 200 && o.Reason != reason) {
				t.Errorf("got %d %s, want %d %s", o.Status, o.Reason, a.Status, reason)
			}
			if r.Response != nil && r.Response.Status == 401 {
				want := `Bearer error="invalid_token"`
				if reason == filter.ReasonNoToken {
					want = "Bearer"
				}
				if got := header(r.Response.Headers, "www-authenticate"); got != want {
					t.Errorf("WWW-Authenticate %q, want %q", got, want)
				}
			}
			for _, kv := range r.Headers {
				if strings.ContainsAny(kv[1], "\r\n") {
					t.Errorf("forwarded %s carries a line break", kv[0])
				}
			}
		})
	}
}

func header(h [][2]string, name string) string {
	for _, kv := range h {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

// TestPaths is the path table of docs/policy.md, through the module, for
// a level-1 caller on service_a (where /admin needs level 2).
func TestPaths(t *testing.T) {
	res := example(t)
	vm, _ := stackVM(t, res)
	attacks := tables.Attacks(res.Config, fixedNow)
	level1 := attacks[0].Headers
	for _, tc := range tables.Paths() {
		t.Run(tc.Target, func(t *testing.T) {
			r, err := vm.Do(context.Background(), wasmhost.Request{Method: "GET", Authority: "api.shop.example", Path: tc.Target, Headers: level1})
			if err != nil {
				t.Fatal(err)
			}
			o, err := outcome(r)
			if err != nil {
				t.Fatal(err)
			}
			if o.Status != tc.Status || (tc.Status != 200 && o.Reason != tc.Reason) {
				t.Errorf("got %d %s, want %d %s", o.Status, o.Reason, tc.Status, tc.Reason)
			}
		})
	}
}

func TestConfigure(t *testing.T) {
	res := example(t)
	good := configJSON(t, res)
	ctx := context.Background()
	h := wasmtest.Host(t, module(t), wasmhost.Options{Now: func() time.Time { return fixedNow }, Cache: compileCache})
	if _, err := h.NewVM(ctx, []byte(`{"version":1}`)); err == nil || !strings.Contains(err.Error(), "keycard: bad configuration: config: table: table: bad magic") {
		t.Errorf("bad first configuration: %v", err)
	}
	vm, err := h.NewVM(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	// A bad new configuration is refused and the old one keeps working.
	bad := strings.Replace(string(good), `"algorithms":["HS256"]`, `"algorithms":["none"]`, 1)
	if err := vm.Configure(ctx, []byte(bad)); err == nil {
		t.Fatal("bad configuration accepted")
	}
	r, err := vm.Do(ctx, wasmhost.Request{Method: "GET", Authority: "a.shop.example", Path: "/auth"})
	if err != nil || r.Response == nil || r.Response.Status != 401 {
		t.Fatalf("after a refused configuration: %v %+v", err, r)
	}
	if n, ok := vm.Metric("keycard.requests.denied.no_token"); !ok || n != 1 {
		t.Errorf("denied.no_token = %d, %v", n, ok)
	}
}

// TestSoak sends 300k requests with a mix of tokens through one VM and
// checks that the module's memory stops growing (the last 100k add no
// page: a module that allocates little per request reaches its size
// late, as its collector runs seldom) and that the Go runtime never
// needed poll_oneoff.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	res := example(t)
	vm, _ := stackVM(t, res)
	attacks := tables.Attacks(res.Config, fixedNow)
	var mix [][][2]string
	for _, a := range attacks {
		if len(a.Headers) > 0 && len(a.Headers[0][1]) < 4096 {
			mix = append(mix, a.Headers)
		}
	}
	paths := []string{"/auth", "/admin/x", "/", "/tickets/1", "/nope", "/a/%2e%2e/auth"}
	ctx := context.Background()
	run := func(n int) {
		for i := range n {
			_, err := vm.Do(ctx, wasmhost.Request{Method: "GET", Authority: "a.shop.example", Path: paths[i%len(paths)], Headers: mix[i%len(mix)]})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	var pages []uint32
	for range 12 {
		run(25_000)
		pages = append(pages, vm.MemoryPages())
	}
	warm, after := pages[7], pages[11]
	t.Logf("memory pages every 25k requests: %v", pages)
	if after > warm {
		t.Errorf("memory grew from %d to %d pages between 200k and 300k requests", warm, after)
	}
	if vm.PollCalls() != 0 {
		t.Errorf("poll_oneoff called %d times", vm.PollCalls())
	}
}
