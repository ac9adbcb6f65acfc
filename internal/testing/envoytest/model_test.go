package envoytest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/internal/policycases"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"github.com/keycard-gw/keycard/internal/testing/wasmtest"
	"github.com/keycard-gw/keycard/internal/wasmhost"
)

// request is one request both the model and the host run.
type request struct {
	name               string
	method, host, path string
	headers            [][2]string
}

// routerAdds are the headers Envoy's router adds to what the filter
// passes on (source/common/router/router.cc, the HCM's request id): not
// the filter's doing, and not modelled.
var routerAdds = []string{"x-request-id", "x-forwarded-proto", "x-envoy-expected-rq-timeout-ms"}

// hostStamps are the headers Envoy's connection manager puts on every
// response it sends, the filter's local replies included.
var hostStamps = []string{"date", "server"}

// modelRequests are the shared tables' requests: the policy's cases, the
// JWT attacks and the cross-origin table.
func (st *stack) modelRequests(t *testing.T) []request {
	var out []request
	files, _ := policycases.Files([]string{filepath.Join(root, "policies")})
	cases, err := policycases.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range cases {
		c := &cases[i]
		h, err := c.Headers(st.res.Config, now)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, request{"case " + c.Name, c.Request.Method, c.Request.Host, c.Request.Path, h})
	}
	for _, a := range tables.Attacks(st.res.Config, now) {
		method, host, path := a.Request()
		out = append(out, request{"attack " + a.Name, method, host, path, a.Headers})
	}
	for _, c := range tables.CORSRequests(st.res.Config, now) {
		out = append(out, request{"cors " + c.Name, c.Method, c.Host, c.Path, c.Headers})
	}
	return out
}

// testModel runs the shared tables through the wazero model's Envoy
// flavour and through the host core as sent (--hcm raw, as the model
// hands requests over), both with the same sidecar, and compares every
// answer: status, body and every header of a local reply, every header
// the upstream receives, and the filter's decision log line.
func (st *stack) testModel(t *testing.T) {
	module, err := os.ReadFile(st.module)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(st.file)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	vm := wasmtest.VM(t, module, wasmhost.Options{Gateway: config.GatewayEnvoy, Now: time.Now,
		Caller: wasmhost.HTTPCaller(http.DefaultClient, map[string]string{"keycard_sidecar": st.sc.URL})}, conf)
	compared := 0
	compare := func(rq request) {
		t.Run(rq.name, func(t *testing.T) {
			m, err := vm.Do(ctx, wasmhost.Request{Method: rq.method, Authority: rq.host, Path: rq.path, Headers: rq.headers})
			if err != nil {
				t.Fatalf("the model: %v", err)
			}
			got, err := st.raw.Do(Request{Method: rq.method, Authority: rq.host, Path: rq.path, Headers: rq.headers})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range differences(m, got) {
				t.Error(d)
			}
			compared++
		})
	}
	for _, rq := range st.modelRequests(t) {
		compare(rq)
	}
	t.Logf("%d requests compared header by header", compared)
	t.Run("failed call-outs", st.testFailedCalls)
}

// testFailedCalls: a call-out that finds no sidecar, and one the
// sidecar answers after the timeout, reach the filter as Envoy's router
// answers them (503 and 504, with headers and a body): the filter's
// decision and its log line, detail included, are the same in the model
// and the host. Each runs in a fresh VM and host, whose denial log
// budget (a few lines a second) is whole.
func (st *stack) testFailedCalls(t *testing.T) {
	module, _ := os.ReadFile(st.module)
	conf, _ := os.ReadFile(st.file)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(time.Second) }))
	defer slow.Close()
	for _, tc := range []struct{ name, url, detail string }{
		{"no sidecar listening", "http://127.0.0.1:1", `detail="status 503"`},
		{"a sidecar slower than the timeout", slow.URL, `detail="status 504"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			vm := wasmtest.VM(t, module, wasmhost.Options{Gateway: config.GatewayEnvoy, Now: time.Now,
				Caller: wasmhost.HTTPCaller(http.DefaultClient, map[string]string{"keycard_sidecar": tc.url})}, conf)
			host, err := Start(st.eng, st.module, st.file, map[string]string{"keycard_sidecar": tc.url}, "--hcm", "raw")
			if err != nil {
				t.Fatal(err)
			}
			defer host.Close()
			tok, err := mint.Token(st.res.Config, "login", "", mint.Claims{Subject: "13000000077", Level: 1, TTL: time.Hour}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			headers := [][2]string{{"authorization", "Bearer " + tok}}
			m, err := vm.Do(ctx, wasmhost.Request{Method: "GET", Authority: "a.shop.example", Path: "/auth", Headers: headers})
			if err != nil {
				t.Fatal(err)
			}
			got, err := host.Do(Request{Method: "GET", Authority: "a.shop.example", Path: "/auth", Headers: headers})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range differences(m, got) {
				t.Error(d)
			}
			model, real := decisionLine(modelLogs(vm.Logs())), decisionLine(got.Log)
			if model != real || !strings.Contains(real, tc.detail) {
				t.Errorf("decision log:\n  model %s\n  host  %s\nwant %s", model, real, tc.detail)
			}
		})
	}
}

func modelLogs(entries []wasmhost.LogEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Message
	}
	return out
}

// decisionLine is the filter's "keycard: allow/deny ..." log line
// without the host's prefix, or "".
func decisionLine(logs []string) string {
	for _, l := range logs {
		for _, kind := range []string{"keycard: allow ", "keycard: deny ", "keycard: shadow-deny "} {
			if i := strings.Index(l, kind); i >= 0 {
				return l[i:]
			}
		}
	}
	return ""
}

// differences lists where the model's answer and the host's differ.
func differences(m *wasmhost.Result, h *Result) []string {
	var out []string
	if m.Response != nil {
		if h.Result != "local_reply" {
			return []string{fmt.Sprintf("the model answers %d itself, the host: %s", m.Response.Status, h.Result)}
		}
		if m.Response.Status != h.Status {
			out = append(out, fmt.Sprintf("status: model %d, host %d", m.Response.Status, h.Status))
		}
		if string(m.Response.Body) != h.Body {
			out = append(out, fmt.Sprintf("body: model %q, host %q", m.Response.Body, h.Body))
		}
		if m.Response.Details != h.Details {
			out = append(out, fmt.Sprintf("details: model %q, host %q", m.Response.Details, h.Details))
		}
		return append(out, headerDifferences("reply", m.Response.Headers, h.Headers, hostStamps)...)
	}
	if h.Result != "continue" {
		return []string{fmt.Sprintf("the model lets it through, the host: %s %d %s", h.Result, h.Status, h.Body)}
	}
	return headerDifferences("upstream", m.Headers, h.UpstreamHeaders, routerAdds)
}

// headerDifferences compares two header lists as multisets of lower-case
// name and value, leaving out the names in skip from the host's.
func headerDifferences(what string, model, host [][2]string, skip []string) []string {
	norm := func(hs [][2]string, skip []string) []string {
		var out []string
		for _, kv := range hs {
			name := strings.ToLower(kv[0])
			if slices.Contains(skip, name) || name == ":status" {
				continue
			}
			out = append(out, name+": "+kv[1])
		}
		slices.Sort(out)
		return out
	}
	mh, hh := norm(model, nil), norm(host, skip)
	var out []string
	for _, x := range mh {
		if !slices.Contains(hh, x) {
			out = append(out, fmt.Sprintf("%s header %q: the model has it, the host not", what, x))
		}
	}
	for _, x := range hh {
		if !slices.Contains(mh, x) {
			out = append(out, fmt.Sprintf("%s header %q: the host has it, the model not", what, x))
		}
	}
	return out
}
