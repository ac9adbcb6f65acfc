package envoytest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// EnvHost names the environment variable that points at the envoyhost
// directory (with bin/envoyhost and envoyhost-v8).
const EnvHost = "KEYCARD_ENVOY_HOST"

// Engine is one build of the host.
type Engine struct {
	Name string // "v8" or "wamr"
	Bin  string
}

// Find returns the host's engines, V8 (Envoy's default) first:
// $KEYCARD_ENVOY_HOST, else ../shared/envoyhost beside the checkout at
// root. The error says where it looked.
func Find(root string) ([]Engine, error) {
	dir := os.Getenv(EnvHost)
	if dir == "" {
		dir = filepath.Join(root, "..", "shared", "envoyhost")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var out []Engine
	for _, e := range []Engine{{"v8", filepath.Join(dir, "envoyhost-v8")}, {"wamr", filepath.Join(dir, "bin", "envoyhost")}} {
		if _, err := os.Stat(e.Bin); err == nil {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no Envoy host core (envoyhost): set $%s or put it at %s", EnvHost, dir)
	}
	return out, nil
}

// Request is one request line of the driver's input.
type Request struct {
	ID        string      `json:"id,omitempty"`
	Method    string      `json:"method"`
	Authority string      `json:"authority"`
	Path      string      `json:"path"`
	Headers   [][2]string `json:"headers,omitempty"`
}

// Result is the driver's answer to a request line.
type Result struct {
	Result          string      `json:"result"` // continue, local_reply, rejected_by_hcm, hang, reset
	Status          int         `json:"status"`
	Body            string      `json:"body"`
	Headers         [][2]string `json:"headers"`
	Details         string      `json:"details"`
	UpstreamHeaders [][2]string `json:"upstream_headers"`
	Callouts        []any       `json:"callouts"`
	Log             []string    `json:"log"`
}

// Header returns a local reply's header, and whether it is there.
func (r *Result) Header(name string) (string, bool) {
	for _, kv := range r.Headers {
		if strings.EqualFold(kv[0], name) {
			return kv[1], true
		}
	}
	return "", false
}

// Host is one running envoyhost: request lines in, one answer line out
// for each, in order.
type Host struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	last []byte // the last line read

	// Events are what the host reported between answers.
	Events []string
	logs   strings.Builder
}

// Start runs the engine with the module and the filter configuration,
// call-outs to the named clusters going to the given URLs, and reads its
// set-up line.
func Start(e Engine, wasm, configFile string, clusters map[string]string, extra ...string) (*Host, error) {
	args := []string{"--wasm", wasm, "--config", configFile}
	for name, url := range clusters {
		args = append(args, "--cluster", name+"="+url)
	}
	args = append(args, extra...)
	h := &Host{cmd: exec.Command(e.Bin, args...)}
	h.cmd.Stderr = &h.logs
	var err error
	if h.in, err = h.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	h.out = bufio.NewReaderSize(stdout, 1<<20)
	if err := h.cmd.Start(); err != nil {
		return nil, err
	}
	var setup struct {
		Setup string   `json:"setup"`
		Log   []string `json:"log"`
	}
	if err := h.read(&setup); err != nil {
		h.Close()
		return nil, fmt.Errorf("set-up: %w (stderr: %s)", err, h.logs.String())
	}
	if setup.Setup != "ok" {
		h.Close()
		return nil, fmt.Errorf("set-up %q: %s", setup.Setup, strings.Join(setup.Log, "; "))
	}
	return h, nil
}

// read reads the next answer line into v. Lines of events the host
// reports on its own (ticks, call-outs of the root context) may come
// between answers at any time; they are kept in Events.
func (h *Host) read(v any) error {
	var line []byte
	for {
		var err error
		if line, err = h.out.ReadBytes('\n'); err != nil {
			return err
		}
		var ev struct {
			Events []string `json:"events"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.Events != nil {
			h.Events = append(h.Events, ev.Events...)
			continue
		}
		break
	}
	if err := json.Unmarshal(line, v); err != nil {
		return fmt.Errorf("%w: %.300s", err, line)
	}
	h.last = line
	return nil
}

func (h *Host) send(v any, out any) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := h.in.Write(append(data, '\n')); err != nil {
		return err
	}
	return h.read(out)
}

// Do sends one request and returns what became of it.
func (h *Host) Do(r Request) (*Result, error) {
	var res Result
	if err := h.send(r, &res); err != nil {
		return nil, err
	}
	if res.Result == "" {
		return nil, fmt.Errorf("an answer without a result: %.300s", h.last)
	}
	return &res, nil
}

// Concurrent sends requests that the host runs together (their streams
// paused at once, so they may share a call-out) and returns what became
// of each, in order.
func (h *Host) Concurrent(reqs []Request) ([]*Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	data, err := json.Marshal(map[string][]Request{"concurrent": reqs})
	if err != nil {
		return nil, err
	}
	if _, err := h.in.Write(append(data, '\n')); err != nil {
		return nil, err
	}
	out := make([]*Result, len(reqs))
	for i := range reqs {
		var r Result
		if err := h.read(&r); err != nil {
			return nil, err
		}
		out[i] = &r
	}
	return out, nil
}

// Summary is what the host reports when its input ends.
type Summary struct {
	VMErrors   int                       `json:"vm_errors"`
	WasmFailed bool                      `json:"wasm_failed"`
	WASI       map[string]map[string]any `json:"wasi"`
	Memory     struct {
		WasmBytesAfterSetup int64 `json:"wasm_bytes_after_setup"`
		WasmBytesEnd        int64 `json:"wasm_bytes_end"`
	} `json:"memory"`
}

// Loop runs the request lines n times over in a host of its own (the
// driver's --loop) and returns its summary.
func Loop(e Engine, wasm, configFile string, clusters map[string]string, lines []Request, n int) (*Summary, error) {
	args := []string{"--wasm", wasm, "--config", configFile, "--loop", fmt.Sprint(n)}
	for name, url := range clusters {
		args = append(args, "--cluster", name+"="+url)
	}
	cmd := exec.Command(e.Bin, args...)
	var in strings.Builder
	for _, l := range lines {
		data, err := json.Marshal(l)
		if err != nil {
			return nil, err
		}
		in.Write(append(data, '\n'))
	}
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s --loop: %w", e.Name, err)
	}
	lastLines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var doc struct {
		Summary *Summary `json:"summary"`
	}
	if err := json.Unmarshal([]byte(lastLines[len(lastLines)-1]), &doc); err != nil || doc.Summary == nil {
		return nil, fmt.Errorf("%s --loop: no summary line: %v", e.Name, err)
	}
	return doc.Summary, nil
}

// Sleep runs the host's event loop for ms milliseconds (ticks, call-out
// answers).
func (h *Host) Sleep(ms int) error {
	var out map[string]any
	return h.send(map[string]int{"sleep_ms": ms}, &out)
}

// Close ends the input and waits for the host.
func (h *Host) Close() error {
	h.in.Close()
	return h.cmd.Wait()
}
