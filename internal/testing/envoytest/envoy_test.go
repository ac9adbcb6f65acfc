package envoytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/internal/policycases"
	"github.com/keycard-gw/keycard/internal/render"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"github.com/keycard-gw/keycard/internal/wasmbuild"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"gopkg.in/yaml.v3"
)

const (
	root       = "../../.."
	demoSecret = "keycard-demo-secret-not-for-production"
)

// stack is the filter in one engine of the host, with a real sidecar
// on Redis behind the keycard_sidecar cluster, and the native decision
// with the same configuration.
type stack struct {
	eng    Engine
	module string
	file   string // the filter configuration, as render writes it
	res    *compiler.Result
	host   *Host // with the connection manager options render writes (--hcm keycard)
	raw    *Host // handing requests over as sent (--hcm raw)
	sc     *sidecartest.Sidecar
	native *filter.Engine
}

// hostModule finds the host core's engines (skipping the test without
// them) and builds the module.
func hostModule(t *testing.T) ([]Engine, string) {
	t.Helper()
	engines, err := Find(root)
	if err != nil {
		t.Skip("Envoy host core tests skipped: " + err.Error())
	}
	module := filepath.Join(t.TempDir(), "keycard.wasm")
	if err := wasmbuild.Build(root, "./filter/wasm", module); err != nil {
		t.Fatal(err)
	}
	return engines, module
}

// TestEnvoyHost runs the shared tables in Envoy's host core, V8 first.
func TestEnvoyHost(t *testing.T) {
	engines, module := hostModule(t)
	for _, eng := range engines {
		t.Run(eng.Name, func(t *testing.T) {
			st := start(t, eng, module)
			t.Run("cases", st.testCases)
			t.Run("attacks", st.testAttacks)
			t.Run("paths", st.testPaths)
			t.Run("cors", st.testCORS)
			t.Run("the model against the host", st.testModel)
			t.Run("token state", st.testState)
			t.Run("one call for concurrent requests", st.testSharedCall)
			t.Run("sidecar faults", st.testSidecarFaults)
			t.Run("400,000 requests", st.testLoop)
		})
	}
}

func start(t *testing.T, eng Engine, module string) *stack {
	t.Helper()
	res := tables.Example(t, tables.Policies(root))
	sc := sidecartest.Start(t, res.Config.Policy)
	conf, cfgJSON := renderedConfig(t, res)
	file := filepath.Join(t.TempDir(), "keycard.json")
	if err := os.WriteFile(file, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	clusters := map[string]string{cfgJSON.Sidecar.Upstream: sc.URL}
	var hosts [2]*Host
	for i, hcm := range []string{"keycard", "raw"} {
		// A request the connection manager refuses waits out the stream
		// bound; a sidecar answer takes milliseconds.
		h, err := Start(eng, module, file, clusters, "--hcm", hcm, "--stream-wait-ms", "500")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		hosts[i] = h
	}
	native, err := filter.New(cfgJSON, res.Table, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return &stack{eng: eng, module: module, file: file, res: res, host: hosts[0], raw: hosts[1], sc: sc, native: native}
}

// renderedConfig is the filter configuration `keycard render envoy`
// puts in envoy.yaml, as the bytes Envoy hands the filter and decoded.
func renderedConfig(t *testing.T, res *compiler.Result) ([]byte, *config.Config) {
	t.Helper()
	files, err := render.Envoy(res, render.Options{Sidecar: "127.0.0.1:8181"})
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(files["envoy.yaml"], &v); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(v)
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := b.StaticResources.Listeners[0].FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	for _, f := range hcm.HttpFilters {
		var w wasmv3.Wasm
		if f.GetTypedConfig().UnmarshalTo(&w) != nil {
			continue
		}
		var s wrapperspb.StringValue
		if err := w.GetConfig().GetConfiguration().UnmarshalTo(&s); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := config.Decode([]byte(s.Value))
		if err != nil {
			t.Fatal(err)
		}
		return []byte(s.Value), cfg
	}
	t.Fatal("no wasm filter in the rendered envoy.yaml")
	return nil, nil
}

// outcome is what became of a request, as the tables compare it.
func outcome(r *Result) (policycases.Outcome, error) {
	o := policycases.Outcome{Headers: map[string]string{}}
	switch r.Result {
	case "continue":
		o.Status = 200
		o.Headers = policycases.Watched(r.UpstreamHeaders)
	case "local_reply":
		o.Status = r.Status
		if r.Body == "" {
			o.Reason = strings.TrimPrefix(r.Details, "keycard_")
			break
		}
		var body struct {
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
			return o, fmt.Errorf("%d %q: not the filter's envelope (%s)", r.Status, r.Body, r.Details)
		}
		o.Reason = body.Reason
	case "rejected_by_hcm":
		o.Status, o.Reason = r.Status, "rejected_by_hcm"
	default:
		return o, fmt.Errorf("the request ended %s: %v", r.Result, r.Log)
	}
	return o, nil
}

func (st *stack) target(method, host, path string, headers [][2]string) (policycases.Outcome, error) {
	r, err := st.host.Do(Request{Method: method, Authority: host, Path: path, Headers: headers})
	if err != nil {
		return policycases.Outcome{}, err
	}
	return outcome(r)
}

// testCases: every case of policies/*.cases.yaml through the host and
// natively; they must agree and meet the case.
func (st *stack) testCases(t *testing.T) {
	native := policycases.Native(st.native, policycases.SidecarAsker(http.DefaultClient, st.sc.URL, sidecartest.GatewayKey))
	tables.RunExampleCases(t, tables.Policies(root), st.res.Config, native, func(t *testing.T, c *policycases.Case, h [][2]string, want policycases.Outcome) {
		got, err := st.target(c.Request.Method, c.Request.Host, c.Request.Path, h)
		if err != nil {
			t.Fatal(err)
		}
		if got.Reason == "rejected_by_hcm" {
			if why := edgeRefusal(want, h); why != "" {
				t.Logf("Envoy refuses it before the filter: %s", why)
				return
			}
			t.Fatalf("Envoy's connection manager refused it (%d); natively %v", got.Status, want)
		}
		if got.Status == 200 {
			got.Reason = want.Reason // not visible at the upstream
		}
		if got.Status != want.Status || got.Reason != want.Reason || fmt.Sprint(got.Headers) != fmt.Sprint(want.Headers) {
			t.Errorf("native %v, Envoy %v", want, got)
		}
		if !c.CheckOn("envoy", got) {
			t.Errorf("Envoy's outcome %v does not meet the case (line %d)", got, c.Line)
		}
	})
}

// edgeRefusal says why the connection manager, as render configures it,
// may refuse a request before the filter runs, or "" when it must not:
// a request the filter refuses as malformed (400) anyway, or a header
// name with "_" (headers_with_underscores_action: REJECT_REQUEST).
func edgeRefusal(native policycases.Outcome, headers [][2]string) string {
	if native.Status == 400 {
		return "the filter refuses it too (" + native.Reason + ")"
	}
	for _, kv := range headers {
		if strings.Contains(kv[0], "_") {
			return "header " + kv[0] + " has an underscore"
		}
	}
	return ""
}

// testAttacks: the JWT attack table against /auth.
func (st *stack) testAttacks(t *testing.T) {
	for _, a := range tables.Attacks(st.res.Config, time.Now()) {
		t.Run(a.Name, func(t *testing.T) {
			method, host, path := a.Request()
			got, err := st.target(method, host, path, a.Headers)
			if err != nil {
				t.Fatal(err)
			}
			if reason := a.ReasonOn(config.GatewayEnvoy); got.Status != a.Status || a.Status != 200 && got.Reason != reason {
				t.Errorf("got %d %s, want %d %s", got.Status, got.Reason, a.Status, reason)
			}
		})
	}
}

// testPaths: the path table. Handed over as sent (--hcm raw), every row
// is decided as the table says. Through the connection manager options
// render writes (--hcm keycard) Envoy normalises the path first and
// forwards what it normalised: a row may then be refused at the edge
// (only where the table says 400), and whatever goes upstream must be
// allowed natively for the path the upstream receives.
func (st *stack) testPaths(t *testing.T) {
	tok, err := mint.Token(st.res.Config, "login", "", mint.Claims{Subject: "13000000001", Level: 1, JTI: "envoy-paths"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	level1 := [][2]string{{"authorization", "Bearer " + tok}}
	for _, tc := range tables.Paths() {
		t.Run("raw "+tc.Target, func(t *testing.T) {
			r, err := st.raw.Do(Request{Method: "GET", Authority: "api.shop.example", Path: tc.Target, Headers: level1})
			if err != nil {
				t.Fatal(err)
			}
			got, err := outcome(r)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.Status || tc.Status != 200 && got.Reason != tc.Reason {
				t.Errorf("got %d %s, want %d %s", got.Status, got.Reason, tc.Status, tc.Reason)
			}
		})
		t.Run("normalised "+tc.Target, func(t *testing.T) {
			r, err := st.host.Do(Request{Method: "GET", Authority: "api.shop.example", Path: tc.Target, Headers: level1})
			if err != nil {
				t.Fatal(err)
			}
			got, err := outcome(r)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case got.Status == tc.Status && (tc.Status == 200 || got.Reason == tc.Reason):
			case tc.Status != 400:
				t.Errorf("got %d %s, want %d %s", got.Status, got.Reason, tc.Status, tc.Reason)
			case r.Result == "continue":
				path := ""
				for _, kv := range r.UpstreamHeaders {
					if kv[0] == ":path" {
						path = kv[1]
					}
				}
				native := policycases.Native(st.native, policycases.SidecarAsker(http.DefaultClient, st.sc.URL, sidecartest.GatewayKey))
				if o, _ := native("GET", "api.shop.example", path, level1); o.Status != 200 {
					t.Errorf("Envoy forwarded it as %s, which the filter does not let through (%d %s)", path, o.Status, o.Reason)
				}
			}
		})
	}
}

// testCORS: the cross-origin table; Envoy's answers carry the headers
// of the filter's own replies (the driver's upstream reply is not
// reported, so an allowed request checks its status only).
func (st *stack) testCORS(t *testing.T) {
	tables.RunCORS(t, st.res.Config, time.Now(), func(t *testing.T, c tables.CORSRequest) tables.CORSAnswer {
		r, err := st.host.Do(Request{Method: c.Method, Authority: c.Host, Path: c.Path, Headers: c.Headers})
		if err != nil {
			t.Fatal(err)
		}
		o, err := outcome(r)
		if err != nil {
			t.Fatal(err)
		}
		a := tables.CORSAnswer{Status: o.Status, Reason: o.Reason}
		if r.Result == "local_reply" { // the driver shows a local reply's headers only
			a.Header = r.Header
		}
		return a
	})
}

// testState: the token-state attacks against the real sidecar through
// the host's call-outs; waiting lets the filter's cached answers
// (sessions.cache, 1 s) run out while the host's event loop runs.
func (st *stack) testState(t *testing.T) {
	wait := func() {
		if err := st.host.Sleep(1100); err != nil {
			t.Fatal(err)
		}
	}
	for _, sc := range tables.StateScenarios(st.res.Config, "envoy-"+fmt.Sprint(time.Now().UnixNano()), time.Now()) {
		t.Run(sc.Name, func(t *testing.T) {
			if err := sc.Run(st.sc.Call, st.target, wait); err != nil {
				t.Error(err)
			}
		})
	}
}

// token mints a level-1 login token with a jti of its own.
func (st *stack) token(t *testing.T, jti string) string {
	t.Helper()
	tok, err := mint.Token(st.res.Config, "login", "", mint.Claims{Subject: "13000000001", Level: 1, JTI: jti}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// testSharedCall: requests for one token that arrive together share one
// call to the sidecar (Envoy resumes the waiters from the root context).
func (st *stack) testSharedCall(t *testing.T) {
	tok := st.token(t, fmt.Sprintf("envoy-shared-%d", time.Now().UnixNano()))
	var reqs []Request
	for i := range 4 {
		reqs = append(reqs, Request{ID: fmt.Sprint(i), Method: "GET", Authority: "a.shop.example", Path: "/auth", Headers: [][2]string{{"authorization", "Bearer " + tok}}})
	}
	rs, err := st.host.Concurrent(reqs)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	for i, r := range rs {
		if r.Result != "continue" {
			t.Errorf("request %d: %s %d %s", i, r.Result, r.Status, r.Details)
		}
		calls += len(r.Callouts)
	}
	if calls != 1 {
		t.Errorf("%d call-outs for 4 requests with one token, want 1", calls)
	}
}

// testSidecarFaults plays the shared sidecar faults (tables) through the
// host core: the sidecar behind a proxy on the cluster, which can be
// slow (the filter's timeout is 200ms), pass on a sidecar whose Redis is
// down, or be gone (its listener closed, for good).
func (st *stack) testSidecarFaults(t *testing.T) {
	sc := sidecartest.Start(t, st.res.Config.Policy)
	f := &tables.SidecarFaultsOf{T: t, Sidecar: sc}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.Slow.Load() {
			time.Sleep(time.Second)
		}
		req, _ := http.NewRequest(r.Method, sc.URL+r.URL.RequestURI(), nil)
		req.Header = r.Header.Clone() // the gateway key among them
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()
	h, err := Start(st.eng, st.module, st.file, map[string]string{st.res.Config.Sidecar.Upstream: proxy.URL}, "--stream-wait-ms", "3000")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	target := func(method, host, path string, headers [][2]string) (policycases.Outcome, error) {
		r, err := h.Do(Request{Method: method, Authority: host, Path: path, Headers: headers})
		if err != nil {
			return policycases.Outcome{}, err
		}
		return outcome(r)
	}
	f.Down, f.Up = proxy.Close, func() bool { return false } // the cluster's address is gone
	tables.RunSidecarFaults(t, st.res.Config, fmt.Sprintf("envoy-fault-%d", time.Now().UnixNano()), target, f, 2*time.Second)
}

// testLoop: 400,000 requests (public, a cached token, an invalid token,
// a preflight) through one VM: no trap, no poll_oneoff, and the module's
// memory after 400,000 within 1 MiB of what it was after 200,000 — under
// 6 bytes a request, where keeping anything of a request (a header, a
// token) would cost a hundred. Go's heap settles first (a wasm memory
// never shrinks, so it shows every step); as the common requests
// allocate nothing, its collector runs seldom and that takes about
// 300,000 requests (V8: 8.4 MB after 100,000, 9.7 MB after 200,000,
// 10.0 MB after 400,000, then 10.7 MB after 800,000 and 1.6 million).
func (st *stack) testLoop(t *testing.T) {
	tok := st.token(t, "envoy-loop")
	lines := []Request{
		{Method: "GET", Authority: "a.shop.example", Path: "/"},
		{Method: "GET", Authority: "a.shop.example", Path: "/auth", Headers: [][2]string{{"authorization", "Bearer " + tok}}},
		{Method: "GET", Authority: "a.shop.example", Path: "/auth", Headers: [][2]string{{"authorization", "Bearer " + tok[:len(tok)-4] + "AAAA"}}},
		{Method: "OPTIONS", Authority: "a.shop.example", Path: "/auth", Headers: [][2]string{{"origin", "https://shop.example"}, {"access-control-request-method", "GET"}}},
	}
	clusters := map[string]string{st.res.Config.Sidecar.Upstream: st.sc.URL}
	// The module allocates little per request, so its collector runs
	// seldom and its memory reaches its size late (about 300,000 of
	// these requests): the check compares 200,000 with 400,000.
	warm, err := Loop(st.eng, st.module, st.file, clusters, lines, 50000)
	if err != nil {
		t.Fatal(err)
	}
	long, err := Loop(st.eng, st.module, st.file, clusters, lines, 100000)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Summary{"200,000": warm, "400,000": long} {
		if s.VMErrors != 0 || s.WasmFailed {
			t.Errorf("after %s requests: %d VM errors, failed %v", name, s.VMErrors, s.WasmFailed)
		}
		if _, ok := s.WASI["poll_oneoff"]; ok {
			t.Errorf("after %s requests: the module called poll_oneoff (Envoy answers ENOSYS and Go's scheduler throws)", name)
		}
	}
	if long.Memory.WasmBytesEnd > warm.Memory.WasmBytesEnd+1<<20 {
		t.Errorf("module memory %d bytes after 200,000 requests, %d after 400,000: not flat", warm.Memory.WasmBytesEnd, long.Memory.WasmBytesEnd)
	}
	t.Logf("module memory: %d bytes after 200,000 requests, %d after 400,000", warm.Memory.WasmBytesEnd, long.Memory.WasmBytesEnd)
}
