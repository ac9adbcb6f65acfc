package kongtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/internal/render"
	"github.com/keycard-gw/keycard/internal/testing/loopback"
	"gopkg.in/yaml.v3"
)

// EnvHost names the environment variable that points at the host's
// nginx (a binary or a wrapper script such as ../shared/ngxwasm/nginx).
const EnvHost = "KEYCARD_NGX_WASM"

// EnvWasmExtra holds directives added to the wasm{} block, such as V8
// flags ("v8 { flag wasm_loop_unrolling off; }"). ngx_wasm_module takes
// only the V8 flags of its own list, wasm compilation's: perf_basic_prof,
// which would make V8 write a perf map of the module's functions, is
// refused as unknown.
const EnvWasmExtra = "KEYCARD_NGX_WASM_EXTRA"

// EnvLogLevel sets nginx's error_log level for the tests (default info;
// debug needs an nginx built --with-debug, as the shared one is).
const EnvLogLevel = "KEYCARD_NGX_LOG"

// Find returns the host's nginx: $KEYCARD_NGX_WASM, else
// ../shared/ngxwasm/nginx beside the checkout at root. The error says
// where it looked.
func Find(root string) (string, error) {
	if p := os.Getenv(EnvHost); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$%s: %v", EnvHost, err)
		}
		return p, nil
	}
	p, err := filepath.Abs(filepath.Join(root, "..", "shared", "ngxwasm", "nginx"))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no Kong host (nginx with ngx_wasm_module): set $%s or put it at %s", EnvHost, p)
	}
	return p, nil
}

// Conf is what the gateway runs: the files `keycard render kong` wrote
// (kong.conf, kong.yaml; the module is read from Module), and where the
// filtered location proxies to.
type Conf struct {
	Files    render.Files
	Module   string // keycard.wasm
	Upstream string // host:port the proxy passes allowed requests to; "" for the gateway's own origin server
	Workers  int    // nginx worker processes; default 1
	// Baselines are other filter modules served beside keycard, each
	// on its own port with the same proxying (benchmarks).
	Baselines []Baseline
}

// directives turns kong.conf's properties into nginx directives the way
// Kong injects them: nginx_wasm_X into the wasm{} block, nginx_http_X
// into http{}; wasm = on and wasm_filters_path are Kong's own switches
// (the latter becomes one module directive per filter). Anything else is
// refused, so a property Kong would not understand fails the test.
func directives(kongConf []byte) (wasmBlock, httpBlock []string, err error) {
	sc := bufio.NewScanner(bytes.NewReader(kongConf))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok || k == "" || v == "":
			return nil, nil, fmt.Errorf("kong.conf:%d: not a property: %q", n, line)
		case k == "wasm":
			if v != "on" {
				return nil, nil, fmt.Errorf("kong.conf:%d: wasm = %s", n, v)
			}
		case k == "wasm_filters_path":
		case strings.HasPrefix(k, "nginx_wasm_"):
			wasmBlock = append(wasmBlock, strings.TrimPrefix(k, "nginx_wasm_")+" "+v+";")
		case strings.HasPrefix(k, "nginx_http_"):
			httpBlock = append(httpBlock, strings.TrimPrefix(k, "nginx_http_")+" "+v+";")
		default:
			return nil, nil, fmt.Errorf("kong.conf:%d: %s is not a property this test knows how Kong injects", n, k)
		}
	}
	return wasmBlock, httpBlock, sc.Err()
}

// filterConfig is the configuration kong.yaml's filter chains give the
// keycard filter, encoded as Kong hands it over: JSON text. Every chain
// must carry the same one.
func filterConfig(kongYAML []byte) (string, error) {
	var decl struct {
		Chains []struct {
			Name    string `yaml:"name"`
			Filters []struct {
				Name    string `yaml:"name"`
				Enabled bool   `yaml:"enabled"`
				Config  any    `yaml:"config"`
			} `yaml:"filters"`
		} `yaml:"filter_chains"`
	}
	if err := yaml.Unmarshal(kongYAML, &decl); err != nil {
		return "", fmt.Errorf("kong.yaml: %v", err)
	}
	var conf string
	for _, c := range decl.Chains {
		if len(c.Filters) != 1 || c.Filters[0].Name != "keycard" || !c.Filters[0].Enabled {
			return "", fmt.Errorf("kong.yaml: chain %s does not run exactly the keycard filter", c.Name)
		}
		var text string
		switch v := c.Filters[0].Config.(type) {
		case string: // Kong 3.4: passed verbatim
			text = v
		default: // objects are JSON-encoded
			data, err := json.Marshal(v)
			if err != nil {
				return "", err
			}
			text = string(data)
		}
		if conf != "" && text != conf {
			return "", fmt.Errorf("kong.yaml: chain %s configures the filter differently", c.Name)
		}
		conf = text
	}
	if conf == "" {
		return "", errors.New("kong.yaml: no filter chain")
	}
	return conf, nil
}

// quote writes s as a single-quoted nginx configuration string.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// Baseline is a filter to compare keycard with: another module, or the
// keycard module with another configuration.
type Baseline struct {
	Name   string // the server's name, and the module's in nginx's wasm{} block
	Module string // its .wasm file; "" runs the keycard module
	Config string // the filter configuration, if any
}

// Ports are the gateway's listeners on 127.0.0.1.
type Ports struct {
	Proxy    int            // server_name kong: the keycard filter, then the upstream
	Plain    int            // the same proxying without the filter (benchmarks)
	Probe    int            // answers nginx's $uri for the request (the model's check)
	Origin   int            // a trivial upstream in the same nginx (benchmarks)
	Baseline map[string]int // a port per Conf.Baselines entry
}

// NginxConf writes the nginx configuration for c: Kong's proxy server
// (server_name kong, as in Kong's nginx template) running the filter in
// front of c.Upstream, a server that proxies the same way without it,
// and a probe that answers nginx's own reading of the request target.
func NginxConf(c Conf, p Ports) (string, error) {
	wasmBlock, httpBlock, err := directives(c.Files["kong.conf"])
	if err != nil {
		return "", err
	}
	fc, err := filterConfig(c.Files["kong.yaml"])
	if err != nil {
		return "", err
	}
	workers := c.Workers
	if workers == 0 {
		workers = 1
	}
	var b strings.Builder
	level := os.Getenv(EnvLogLevel)
	if level == "" {
		level = "info"
	}
	fmt.Fprintf(&b, "master_process on;\nworker_processes %d;\nerror_log logs/error.log %s;\npid logs/nginx.pid;\n", workers, level)
	if os.Geteuid() == 0 {
		// Workers would run as nobody, who cannot write the test's
		// private temporary directories (request bodies go there).
		b.WriteString("user root;\n")
	}
	b.WriteString("events { worker_connections 1024; }\n")
	fmt.Fprintf(&b, "wasm {\n    module keycard %s;\n", c.Module)
	for _, bl := range c.Baselines {
		if bl.Module != "" {
			fmt.Fprintf(&b, "    module %s %s;\n", bl.Name, bl.Module)
		}
	}
	if extra := os.Getenv(EnvWasmExtra); extra != "" {
		fmt.Fprintf(&b, "    %s\n", extra)
	}
	for _, d := range wasmBlock {
		fmt.Fprintf(&b, "    %s\n", d)
	}
	b.WriteString("}\nhttp {\n    access_log off;\n")
	b.WriteString("    client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fcgi; uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;\n")
	// As Kong's nginx_kong.lua: no body limit, and header names with
	// underscores are kept (nginx's default drops them).
	b.WriteString("    client_max_body_size 0;\n    underscores_in_headers on;\n")
	for _, d := range httpBlock {
		fmt.Fprintf(&b, "    %s\n", d)
	}
	upstream := c.Upstream
	if upstream == "" {
		upstream = fmt.Sprintf("127.0.0.1:%d", p.Origin)
	}
	fmt.Fprintf(&b, "    upstream backend { server %s; keepalive 64; }\n", upstream)
	// Kong's proxy location sets X-Forwarded-Path and -Prefix itself
	// (nginx_kong.lua), so a client's copies never pass; here to the
	// request's URI and to nothing (no prefix stripped).
	proxy := "proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host $host; " +
		"proxy_set_header X-Forwarded-Path $uri; proxy_set_header X-Forwarded-Prefix \"\"; proxy_pass http://backend;"
	// Kong attaches its filter chains from access_by_lua
	// (kong/runloop/wasm.lua, proxy_wasm.attach), which runs
	// proxy_on_request_headers in nginx's access phase
	// (ngx_wasm_lua_ffi.c sets req_headers_in_access); the directive
	// below does the same for the proxy_wasm directive.
	fmt.Fprintf(&b, "    server {\n        listen 127.0.0.1:%d;\n        server_name kong;\n        location / {\n            proxy_wasm_request_headers_in_access on;\n            proxy_wasm keycard %s;\n            %s\n        }\n    }\n", p.Proxy, quote(fc), proxy)
	fmt.Fprintf(&b, "    server {\n        listen 127.0.0.1:%d;\n        server_name kong;\n        location / { %s }\n    }\n", p.Plain, proxy)
	for _, bl := range c.Baselines {
		port, ok := p.Baseline[bl.Name]
		if !ok {
			return "", fmt.Errorf("no port for baseline %s", bl.Name)
		}
		filter := bl.Name
		if bl.Module == "" {
			filter = "keycard"
		}
		if bl.Config != "" {
			filter += " " + quote(bl.Config)
		}
		fmt.Fprintf(&b, "    server {\n        listen 127.0.0.1:%d;\n        server_name kong;\n        location / { proxy_wasm_request_headers_in_access on; proxy_wasm %s; %s }\n    }\n", port, filter, proxy)
	}
	fmt.Fprintf(&b, "    server {\n        listen 127.0.0.1:%d;\n        location / { default_type text/plain; return 200 $uri; }\n    }\n", p.Probe)
	fmt.Fprintf(&b, "    server {\n        listen 127.0.0.1:%d;\n        location / { default_type text/plain; return 200 ok; }\n    }\n", p.Origin)
	b.WriteString("}\n")
	return b.String(), nil
}

// Gateway is a running nginx.
type Gateway struct {
	Ports  Ports
	prefix string
	nginx  string
	cmd    *exec.Cmd
	done   chan error
}

// Start writes the configuration under a temporary prefix, starts nginx
// in the foreground and waits until its workers answer. It stops nginx
// when the test ends.
func Start(t testing.TB, nginx string, c Conf) *Gateway {
	t.Helper()
	g := &Gateway{nginx: nginx, prefix: t.TempDir(), Ports: Ports{Proxy: loopback.Port(t), Plain: loopback.Port(t), Probe: loopback.Port(t), Origin: loopback.Port(t), Baseline: map[string]int{}}}
	for _, bl := range c.Baselines {
		g.Ports.Baseline[bl.Name] = loopback.Port(t)
	}
	for _, d := range []string{"logs", "tmp", "conf"} {
		if err := os.MkdirAll(filepath.Join(g.prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	g.write(t, c)
	g.cmd = exec.Command(nginx, "-p", g.prefix, "-c", g.confPath(), "-g", "daemon off;")
	var stderr bytes.Buffer
	g.cmd.Stdout, g.cmd.Stderr = &stderr, &stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.done = make(chan error, 1)
	go func() { g.done <- g.cmd.Wait() }()
	t.Cleanup(g.stop)
	deadline := time.Now().Add(60 * time.Second)
	// A probe that waits for ever would hang the test when the master
	// listens but has no worker left to answer: each has a time limit,
	// and a worker nginx will not respawn ends the wait at once.
	probe := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case err := <-g.done:
			g.done <- err
			t.Fatalf("nginx exited at start-up (%v):\n%s\n%s", err, stderr.String(), g.ErrorLog())
		default:
		}
		if log := g.ErrorLog(); strings.Contains(log, "cannot be respawned") {
			t.Fatalf("nginx's worker died at start-up:\n%s", log)
		}
		resp, err := probe.Get(fmt.Sprintf("http://127.0.0.1:%d/", g.Ports.Probe))
		if err == nil {
			resp.Body.Close()
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not answer within 60s:\n%s", g.ErrorLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *Gateway) confPath() string { return filepath.Join(g.prefix, "conf", "nginx.conf") }

func (g *Gateway) write(t testing.TB, c Conf) {
	t.Helper()
	conf, err := NginxConf(c, g.Ports)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g.confPath(), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Reload writes a new configuration and has the master reload it (as
// `nginx -s reload` does): new workers start with it, old ones finish
// their requests.
func (g *Gateway) Reload(t testing.TB, c Conf) {
	t.Helper()
	g.write(t, c)
	out, err := exec.Command(g.nginx, "-p", g.prefix, "-c", g.confPath(), "-s", "reload").CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -s reload: %v\n%s", err, out)
	}
}

func (g *Gateway) stop() {
	if g.cmd.Process == nil {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// URL is the filtered proxy's base URL.
func (g *Gateway) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", g.Ports.Proxy) }

// ErrorLog is nginx's error log so far.
func (g *Gateway) ErrorLog() string {
	data, _ := os.ReadFile(filepath.Join(g.prefix, "logs", "error.log"))
	return string(data)
}

// Crashes lists the error log's lines that report a worker killed by a
// signal.
func (g *Gateway) Crashes() []string {
	var out []string
	for _, l := range strings.Split(g.ErrorLog(), "\n") {
		if strings.Contains(l, "exited on signal") {
			out = append(out, l)
		}
	}
	return out
}

// Workers are the master's worker processes now.
func (g *Gateway) Workers() []int {
	master := g.cmd.Process.Pid
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after ')'.
		rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(master) {
			out = append(out, pid)
		}
	}
	return out
}

// RSS is a process's resident memory in KiB.
func RSS(pid int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, errors.New("no VmRSS")
}

// CPUTime is a process's user plus system time.
func CPUTime(pid int) (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	// after the comm: state(0) ppid(1) ... utime(11) stime(12), in clock ticks
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

// ProxyAddr is the filtered proxy's address.
func (p Ports) ProxyAddr() string { return fmt.Sprintf("127.0.0.1:%d", p.Proxy) }
