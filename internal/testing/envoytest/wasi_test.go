package envoytest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/testing/wasmasm"
	"github.com/keycard-gw/keycard/internal/testing/wasmtest"
	"github.com/keycard-gw/keycard/internal/wasmhost"
)

// wasiProbe is one WASI call the probe module makes: its import and its
// arguments (instructions pushing them).
type wasiProbe struct {
	what string
	imp  wasmasm.Import
	args []byte
}

const scratch = 4096 // where the probe's WASI calls may write

// wasiProbes are calls whose answers differ between hosts, and the
// ordinary ones around them.
func wasiProbes() []wasiProbe {
	w := func(name string, params, results int, i64 ...int) wasmasm.Import {
		return wasmasm.Import{Module: "wasi_snapshot_preview1", Name: name, Params: params, Results: results, I64: i64}
	}
	i := func(vs ...int32) []byte {
		var b []byte
		for _, v := range vs {
			b = append(b, wasmasm.I32(v)...)
		}
		return b
	}
	outside := int32(-16) // 0xfffffff0: past the one page of memory
	return []wasiProbe{
		{"fd_fdstat_get stdout", w("fd_fdstat_get", 2, 1), i(1, scratch)},
		{"fd_fdstat_get fd 5", w("fd_fdstat_get", 2, 1), i(5, scratch)},
		{"fd_fdstat_set_flags", w("fd_fdstat_set_flags", 2, 1), i(1, 0)},
		{"fd_read", w("fd_read", 4, 1), i(0, scratch, 0, scratch)},
		{"fd_close", w("fd_close", 1, 1), i(3)},
		{"fd_seek", w("fd_seek", 4, 1, 1), wasmasm.Cat(i(3), wasmasm.I64(0), i(0, scratch))},
		{"path_open", w("path_open", 9, 1, 5, 6), wasmasm.Cat(i(3, 0, scratch, 0, 0), wasmasm.I64(0), wasmasm.I64(0), i(0, scratch))},
		{"fd_prestat_get", w("fd_prestat_get", 2, 1), i(3, scratch)},
		{"fd_prestat_dir_name", w("fd_prestat_dir_name", 3, 1), i(3, scratch, 0)},
		{"clock_time_get realtime", w("clock_time_get", 3, 1, 1), wasmasm.Cat(i(0), wasmasm.I64(0), i(scratch))},
		{"clock_time_get process cputime", w("clock_time_get", 3, 1, 1), wasmasm.Cat(i(2), wasmasm.I64(0), i(scratch))},
		{"clock_time_get outside memory", w("clock_time_get", 3, 1, 1), wasmasm.Cat(i(0), wasmasm.I64(0), i(outside))},
		{"args_sizes_get", w("args_sizes_get", 2, 1), i(scratch, scratch+4)},
		{"args_sizes_get outside memory", w("args_sizes_get", 2, 1), i(outside, scratch)},
		{"environ_sizes_get", w("environ_sizes_get", 2, 1), i(scratch, scratch+4)},
		{"environ_sizes_get outside memory", w("environ_sizes_get", 2, 1), i(outside, scratch)},
		{"random_get none", w("random_get", 2, 1), i(scratch, 0)},
		{"random_get over 64 KiB", w("random_get", 2, 1), i(scratch, 65537)},
		{"sched_yield", w("sched_yield", 0, 1), nil},
		{"poll_oneoff", w("poll_oneoff", 4, 1), i(scratch, scratch, 0, scratch)},
		{"fd_write fd 5", w("fd_write", 4, 1), i(5, scratch, 0, scratch)},
		{"fd_write outside memory", w("fd_write", 4, 1), i(1, outside, 1, scratch)},
	}
}

// probeModule answers every request with a 200 whose body holds, a byte
// each, the errno of every probe in order, then 1 if the module ran on
// after proc_exit.
func probeModule(probes []wasiProbe) []byte {
	const results = 2048
	imports := []wasmasm.Import{{Name: "proxy_send_local_response", Params: 8, Results: 1}, {Module: "wasi_snapshot_preview1", Name: "proc_exit", Params: 1}}
	var body []byte
	for n, p := range probes {
		idx := slices.IndexFunc(imports, func(im wasmasm.Import) bool { return im.Name == p.imp.Name && im.Module == p.imp.Module })
		if idx < 0 {
			idx = len(imports)
			imports = append(imports, p.imp)
		}
		body = wasmasm.Cat(body, wasmasm.I32(int32(results+n)), p.args, wasmasm.Call(idx), wasmasm.Store8())
	}
	body = wasmasm.Cat(body, wasmasm.I32(7), wasmasm.Call(1), // proc_exit(7)
		wasmasm.I32(int32(results+len(probes))), wasmasm.I32(1), wasmasm.Store8(),
		wasmasm.I32(200), wasmasm.I32(0), wasmasm.I32(0), wasmasm.I32(results), wasmasm.I32(int32(len(probes)+1)), wasmasm.I32(0), wasmasm.I32(0), wasmasm.I32(-1),
		wasmasm.Call(0), wasmasm.Drop(), wasmasm.I32(1))
	exports := wasmasm.NoopExports()
	exports["proxy_on_request_headers"] = wasmasm.Func{Params: 3, Results: 1, Body: body}
	return wasmasm.Assemble(imports, exports)
}

// TestWASIAnswers: the model's Envoy flavour answers every WASI call as
// proxy-wasm-cpp-host does (src/exports.cc at Envoy's pin), compared
// byte for byte with the real host core on each engine.
func TestWASIAnswers(t *testing.T) {
	engines, err := Find(root)
	if err != nil {
		t.Skip("Envoy host core tests skipped: " + err.Error())
	}
	probes := wasiProbes()
	module := probeModule(probes)
	dir := t.TempDir()
	file, conf := filepath.Join(dir, "probe.wasm"), filepath.Join(dir, "config.json")
	os.WriteFile(file, module, 0o644)
	os.WriteFile(conf, []byte("{}"), 0o644)
	req := Request{Method: "GET", Authority: "probe.example", Path: "/"}

	ctx := context.Background()
	vm := wasmtest.VM(t, module, wasmhost.Options{Gateway: config.GatewayEnvoy, Probe: true}, []byte("{}"))
	r, err := vm.Do(ctx, wasmhost.Request{Method: req.Method, Authority: req.Authority, Path: req.Path})
	var model []byte
	if err != nil || r.Response == nil {
		t.Errorf("the model: %v %+v", err, r)
		model = make([]byte, len(probes)+1)
	} else {
		model = r.Response.Body
	}
	var modelLog []string
	for _, l := range vm.Logs() {
		modelLog = append(modelLog, l.Message)
	}
	for _, eng := range engines {
		t.Run(eng.Name, func(t *testing.T) {
			host, err := Start(eng, file, conf, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer host.Close()
			got, err := host.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if got.Result != "local_reply" || len(got.Body) != len(probes)+1 {
				t.Fatalf("%s: %+v", eng.Name, got)
			}
			for n, p := range probes {
				if got.Body[n] != model[n] {
					t.Errorf("%s: host answers %d, the model %d", p.what, got.Body[n], model[n])
				}
			}
			if got.Body[len(probes)] != model[len(probes)] {
				t.Errorf("proc_exit: the module ran on after it in the host: %v, in the model: %v", got.Body[len(probes)] == 1, model[len(probes)] == 1)
			}
			for _, want := range []string{"wasi_unstable fd_close", "wasi_unstable fd_seek", "wasi_unstable proc_exit"} {
				if !slices.ContainsFunc(got.Log, func(l string) bool { return strings.Contains(l, want) }) {
					t.Errorf("the host did not log %q: %v", want, got.Log)
				}
				if !slices.ContainsFunc(modelLog, func(l string) bool { return strings.Contains(l, want) }) {
					t.Errorf("the model did not log %q: %v", want, modelLog)
				}
			}
		})
	}
}
