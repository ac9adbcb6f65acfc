package kongtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/internal/policycases"
	"github.com/keycard-gw/keycard/internal/render"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"github.com/keycard-gw/keycard/internal/testing/wasmasm"
	"github.com/keycard-gw/keycard/internal/wasmbuild"
)

var root = filepath.Join("..", "..", "..")

// stack is the real Kong host running the filter built from this tree,
// configured by `keycard render kong`, with a real sidecar and Redis
// behind the call-out and an echoing upstream.
type stack struct {
	res       *compiler.Result
	sc        *sidecartest.Sidecar
	fwd       *Forwarder // the gateway reaches the sidecar through it
	origin    bool       // proxy to the gateway's own origin server
	baselines []Baseline // filters served beside keycard (benchmarks)
	echo      string     // host:port
	module    string
	nginx     string
	gw        *Gateway
	native    *filter.Engine
}

// host finds the Kong host or skips the test with one line.
func host(t testing.TB) string {
	t.Helper()
	nginx, err := Find(root)
	if err != nil {
		t.Skip("real Kong host tests skipped: " + err.Error())
	}
	return nginx
}

// buildModule builds the filter from this tree (never an earlier make).
func buildModule(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "keycard.wasm")
	if err := wasmbuild.Build(root, "./filter/wasm", out); err != nil {
		t.Fatal(err)
	}
	return out
}

// buildNoop builds testdata/noop, the filter that does nothing.
func buildNoop(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "noop.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./testdata/noop")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the no-op filter: %v\n%s", err, msg)
	}
	return out
}

// kongFiles renders the policy for Kong with the sidecar at sidecar.
func kongFiles(t testing.TB, res *compiler.Result, module, sidecar string) render.Files {
	t.Helper()
	files, err := render.Kong(res, render.Options{Sidecar: sidecar, WasmPath: filepath.Dir(module)})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func startStack(t testing.TB) *stack {
	t.Helper()
	return startStackTo(t, false, "")
}

// startStackTo starts the stack; with origin the gateway proxies to its
// own trivial origin server instead of the echoing upstream (benchmarks:
// the upstream's cost is then the same small one with and without the
// filter, and inside the measured worker).
//
// before, when not "", is another build of the module, served as the
// baseline "before" with the filter's configuration (benchmarks: old
// module against new in one run).
func startStackTo(t testing.TB, origin bool, before string) *stack {
	t.Helper()
	st := &stack{nginx: host(t), origin: origin}
	if origin {
		host := filepath.Join(t.TempDir(), "noop-host.wasm")
		if err := os.WriteFile(host, wasmasm.NoopFilter(), 0o644); err != nil {
			t.Fatal(err)
		}
		reads := filepath.Join(t.TempDir(), "headers-host.wasm")
		if err := os.WriteFile(reads, wasmasm.HeaderReadingFilter(4), 0o644); err != nil {
			t.Fatal(err)
		}
		st.baselines = []Baseline{{Name: "noophost", Module: host}, {Name: "headers4", Module: reads}, {Name: "noopgo", Module: buildNoop(t)}}
	}
	st.res = tables.Example(t, tables.Policies(root))
	st.module = buildModule(t)
	st.sc = sidecartest.Start(t, st.res.Config.Policy)
	st.fwd = StartForwarder(t, strings.TrimPrefix(st.sc.URL, "http://"))
	st.echo = strings.TrimPrefix(StartEcho(t).URL, "http://")
	if origin {
		// The same filter without its per-request metric call.
		quiet := *st.res
		cfg := *st.res.Config
		cfg.Options.Metrics = false
		quiet.Config = &cfg
		fc, err := filterConfig(kongFiles(t, &quiet, st.module, st.fwd.Addr)["kong.yaml"])
		if err != nil {
			t.Fatal(err)
		}
		st.baselines = append(st.baselines, Baseline{Name: "nometrics", Config: fc})
		if before != "" {
			fc, err := filterConfig(kongFiles(t, st.res, st.module, st.fwd.Addr)["kong.yaml"])
			if err != nil {
				t.Fatal(err)
			}
			st.baselines = append(st.baselines, Baseline{Name: "before", Module: before, Config: fc})
		}
	}
	st.gw = Start(t, st.nginx, st.conf(t, st.res))
	// The native decision with the configuration Kong was given.
	cfg := *st.res.Config
	cfg.Gateway = config.GatewayKong
	var err error
	if st.native, err = filter.New(&cfg, st.res.Table, time.Now); err != nil {
		t.Fatal(err)
	}
	return st
}

func (st *stack) conf(t testing.TB, res *compiler.Result) Conf {
	c := Conf{Files: kongFiles(t, res, st.module, st.fwd.Addr), Module: st.module, Upstream: st.echo}
	if st.origin {
		c.Upstream = ""
	}
	c.Baselines = st.baselines
	return c
}

// token mints a login token for subject, with its own jti so that no
// cached sidecar answer of another test applies to it.
func (st *stack) token(t testing.TB, subject, jti string, level int) string {
	t.Helper()
	tok, err := mint.Token(st.res.Config, "login", "", mint.Claims{Subject: subject, Level: level, JTI: jti}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func bearer(tok string) [][2]string { return [][2]string{{"Authorization", "Bearer " + tok}} }

// Response is one answer from the gateway.
type Response struct {
	Status int
	Reason string  // the filter's reason for a denial; HostRefused when nginx answered itself
	Echo   *Echoed // what the upstream received, when the request reached it
	Header http.Header
}

// HostRefused is the Reason of an answer nginx gave before the filter.
const HostRefused = "host_refused"

// Outcome is the response as policy cases compare it.
func (r *Response) Outcome() policycases.Outcome {
	o := policycases.Outcome{Status: r.Status, Reason: r.Reason, Headers: map[string]string{}}
	if r.Echo != nil {
		var received [][2]string
		for name, vs := range r.Echo.Headers {
			for _, v := range vs {
				received = append(received, [2]string{name, v})
			}
		}
		o.Headers = policycases.Watched(received)
		o.WithoutKongSets()
	}
	return o
}

// raw sends one request exactly as written (the target is not parsed or
// escaped by a client library) on its own connection.
func raw(addr, method, hostHeader, target string, headers [][2]string, body []byte, proto string) (*Response, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := writeRequest(conn, method, hostHeader, target, headers, body, proto, true); err != nil {
		return nil, err
	}
	if method == "HEAD" {
		return readHead(bufio.NewReader(conn))
	}
	return readOne(bufio.NewReader(conn))
}

// readHead reads the response to a HEAD request, which has no body: the
// status says allowed (the upstream's echo) or denied, and a denial's
// reason is not there to read (Reason stays "").
func readHead(br *bufio.Reader) (*Response, error) {
	resp, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	r := &Response{Status: resp.StatusCode, Header: resp.Header}
	if resp.Header.Get("Content-Type") == "application/x-echo" {
		r.Status = 200
	}
	return r, nil
}

// writeRequest writes one request as given; close adds Connection: close.
func writeRequest(conn net.Conn, method, hostHeader, target string, headers [][2]string, body []byte, proto string, close bool) error {
	if proto == "" {
		proto = "HTTP/1.1"
	}
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "%s %s %s\r\n", method, target, proto)
	if hostHeader != "" {
		fmt.Fprintf(w, "Host: %s\r\n", hostHeader)
	}
	for _, kv := range headers {
		fmt.Fprintf(w, "%s: %s\r\n", kv[0], kv[1])
	}
	if body != nil {
		fmt.Fprintf(w, "Content-Length: %d\r\n", len(body))
	}
	if close {
		fmt.Fprintf(w, "Connection: close\r\n")
	}
	w.WriteString("\r\n")
	w.Write(body)
	return w.Flush()
}

// readOne reads one response from a connection.
func readOne(br *bufio.Reader) (*Response, error) {
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return readResponse(resp)
}

func readResponse(resp *http.Response) (*Response, error) {
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &Response{Status: resp.StatusCode, Header: resp.Header}
	switch ct := resp.Header.Get("Content-Type"); {
	case ct == "application/x-echo":
		r.Echo = &Echoed{}
		if err := json.Unmarshal(data, r.Echo); err != nil {
			return nil, fmt.Errorf("echo: %v", err)
		}
		r.Status = 200
	case strings.HasPrefix(ct, "application/json"):
		var env struct {
			Code   int    `json:"code"`
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(data, &env); err != nil || env.Code != resp.StatusCode || env.Reason == "" {
			return nil, fmt.Errorf("%d with body %q: not the filter's envelope", resp.StatusCode, data)
		}
		r.Reason = env.Reason
	case resp.StatusCode == 204 && resp.Header.Get("Access-Control-Allow-Origin") != "":
		r.Reason = "preflight" // the filter's answer to a preflight has no body
	default:
		r.Reason = HostRefused
	}
	return r, nil
}

// get sends a request to the filtered server.
func (st *stack) get(t testing.TB, method, hostHeader, target string, headers [][2]string) *Response {
	t.Helper()
	r, err := raw(st.gw.Ports.ProxyAddr(), method, hostHeader, target, headers, nil, "")
	if err != nil {
		t.Fatalf("%s %s %s: %v", method, hostHeader, target, err)
	}
	return r
}
