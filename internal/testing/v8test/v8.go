package v8test

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
)

//go:embed host.js
var hostJS []byte

// EnvNode names the environment variable that points at node.
const EnvNode = "KEYCARD_NODE"

// Flags are the V8 flags ngx_wasm_module starts V8 with
// (src/wasm/wrt/ngx_wrt_v8.c): TurboFan for every function at load.
var Flags = []string{"--no-liftoff", "--single-threaded"}

// FindNode returns the node binary: $KEYCARD_NODE, else node on PATH.
func FindNode() (string, error) {
	if p := os.Getenv(EnvNode); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("node")
	if err != nil {
		return "", fmt.Errorf("no node on PATH (set $%s)", EnvNode)
	}
	return p, nil
}

// Module is one build of the filter to measure.
type Module struct {
	Name string `json:"name"`
	File string `json:"file"`
}

// Spec is one run: a request, as the host presents it, through each
// module in turn.
type Spec struct {
	Gateway    string            `json:"gateway"`
	Config     string            `json:"config"` // the filter configuration's file
	Modules    []Module          `json:"modules"`
	Headers    [][2]string       `json:"headers"`
	Properties map[string]string `json:"properties"`
	Warm       int               `json:"warm"`     // requests per module before measuring
	Requests   int               `json:"requests"` // measured requests per module
	// Cold flushes the caches before each request: FlushCode bytes of
	// straight-line code run, then FlushData bytes of data are touched.
	Cold      bool `json:"cold"`
	FlushCode int  `json:"flushCode"`
	FlushData int  `json:"flushData"`
	// Profile, hot runs of one module only: self time per function.
	Profile bool `json:"profile"`
}

// Result is one module's figures: nanoseconds per request.
type Result struct {
	Name string `json:"name"`
	// Samples are per request (hot: a batch's mean), in measuring order:
	// the i-th of every module's is of the same round.
	Samples  []float64      `json:"samples"`
	Sets     int            `json:"sets"` // request headers the module set while measured
	Requests int            `json:"requests"`
	Profile  []FunctionTime `json:"-"` // with Spec.Profile
}

// Median is the median sample.
func (r *Result) Median() float64 { return median(r.Samples) }

// Over is the median of the per-round differences between r's samples
// and o's: the machine's drift touches both sides of each alike.
func (r *Result) Over(o *Result) float64 {
	n := min(len(r.Samples), len(o.Samples))
	d := make([]float64, n)
	for i := range d {
		d[i] = r.Samples[i] - o.Samples[i]
	}
	return median(d)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// FunctionTime is a function's self time per request, in nanoseconds.
type FunctionTime struct {
	Name string
	NS   float64
}

// Engine is the node and V8 that ran.
type Engine struct {
	V8   string `json:"v8"`
	Node string `json:"node"`
	// Span is the measured loop's start and end, in microseconds of the
	// monotonic clock a CPU profile's timestamps use.
	Span [2]int64 `json:"span"`
}

// Run runs spec under node and returns each module's result, in order.
func Run(node string, spec Spec) ([]Result, Engine, error) {
	if spec.Profile && len(spec.Modules) != 1 {
		return nil, Engine{}, errors.New("v8test: a profile is of one module")
	}
	dir, err := os.MkdirTemp("", "keycard-v8")
	if err != nil {
		return nil, Engine{}, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "host.js")
	if err := os.WriteFile(script, hostJS, 0o644); err != nil {
		return nil, Engine{}, err
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, Engine{}, err
	}
	specFile := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(specFile, data, 0o600); err != nil {
		return nil, Engine{}, err
	}
	args := append([]string{"--no-warnings"}, Flags...)
	profDir := filepath.Join(dir, "profile")
	if spec.Profile {
		args = append(args, "--cpu-prof", "--cpu-prof-interval=25", "--cpu-prof-dir="+profDir)
	}
	args = append(args, script, specFile)
	cmd := exec.Command(node, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, Engine{}, fmt.Errorf("v8test: node: %v\n%s", err, stderr.Bytes())
	}
	var out []Result
	var eng Engine
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var line struct {
			Result
			Engine
		}
		if err := dec.Decode(&line); err != nil {
			return nil, Engine{}, fmt.Errorf("v8test: node's output: %v", err)
		}
		if line.V8 != "" {
			eng = line.Engine
			continue
		}
		out = append(out, line.Result)
	}
	if len(out) != len(spec.Modules) {
		return nil, Engine{}, fmt.Errorf("v8test: %d results for %d modules\n%s", len(out), len(spec.Modules), stderr.Bytes())
	}
	if spec.Profile {
		files, err := filepath.Glob(filepath.Join(profDir, "*.cpuprofile"))
		if err != nil || len(files) != 1 {
			return nil, Engine{}, fmt.Errorf("v8test: node wrote %d profiles, want 1 (%v)", len(files), err)
		}
		if out[0].Profile, err = selfTimes(files[0], eng.Span, out[0].Requests); err != nil {
			return nil, Engine{}, err
		}
	}
	return out, eng, nil
}

// cpuProfile is the part of V8's CPU profile (the DevTools protocol's
// Profiler.Profile) that self times need.
type cpuProfile struct {
	Nodes []struct {
		ID        int `json:"id"`
		CallFrame struct {
			FunctionName string `json:"functionName"`
			URL          string `json:"url"`
		} `json:"callFrame"`
	} `json:"nodes"`
	StartTime  int64   `json:"startTime"`
	Samples    []int   `json:"samples"`
	TimeDeltas []int64 `json:"timeDeltas"`
}

// selfTimes reads a CPU profile and returns, for the samples taken within
// span, each function's self time per request, longest first.
func selfTimes(file string, span [2]int64, requests int) ([]FunctionTime, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var p cpuProfile
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("v8test: %s: %v", file, err)
	}
	if len(p.TimeDeltas) != len(p.Samples) {
		return nil, fmt.Errorf("v8test: %s: %d samples, %d time deltas", file, len(p.Samples), len(p.TimeDeltas))
	}
	names := map[int]string{}
	for _, n := range p.Nodes {
		name := n.CallFrame.FunctionName
		if name == "" {
			name = "(" + n.CallFrame.URL + ")"
		}
		names[n.ID] = name
	}
	// A sample's time is its timestamp's distance to the next one.
	self := map[string]int64{}
	t := p.StartTime
	for i, id := range p.Samples {
		t += p.TimeDeltas[i]
		if i+1 < len(p.Samples) && t >= span[0] && t < span[1] {
			self[names[id]] += p.TimeDeltas[i+1]
		}
	}
	out := make([]FunctionTime, 0, len(self))
	for name, us := range self {
		out = append(out, FunctionTime{name, float64(us) * 1000 / float64(requests)})
	}
	slices.SortFunc(out, func(a, b FunctionTime) int {
		return cmp.Or(cmp.Compare(b.NS, a.NS), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}
