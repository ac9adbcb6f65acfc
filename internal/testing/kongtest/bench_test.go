package kongtest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkKong measures the filter in the real Kong host: one nginx
// worker proxying to a trivial origin in the same worker, with the
// filter (the proxy server), with filters that do nothing (noophost:
// hand-assembled, so what the host's proxy-wasm machinery costs by
// itself; noopgo: testdata/noop, which adds Go's runtime on every
// callback), with a hand-assembled filter that reads the header map four
// times (headers4: what a host call with an answer costs, against
// noophost), with the filter configured without metrics (its one
// per-request proxy_increment_metric call), without any filter (the
// plain server) and, when KEYCARD_BENCH_BEFORE names another build of
// the module, with that one configured as the filter is (before), for a
// public route and a request with a cached token.
//
//   - throughput: rounds of b.N requests per server at concurrency 8
//     over keep-alive connections, the servers taken in turn in every
//     round, so that the machine's drift touches all of them alike.
//     The worker's on-CPU time per request (/proc/PID/schedstat), which
//     the load generator on the other core does not disturb, is
//     reported per server as the median over the rounds (µs/req-NAME),
//     and the filter's cost over each baseline as the median of the
//     per-round differences (µs-over-NAME).
//   - latency: one request at a time; p50 and p99 in microseconds.
func BenchmarkKong(b *testing.B) {
	before := os.Getenv("KEYCARD_BENCH_BEFORE")
	st := startStackTo(b, true, before)
	workers := st.gw.Workers()
	if len(workers) != 1 {
		b.Fatalf("%d workers, want 1", len(workers))
	}
	worker := workers[0]
	tok := st.token(b, "13000000061", "bench", 1)
	kinds := []struct {
		name string
		k    kind
	}{
		{"public", kind{"/", nil, 200}},
		{"token", kind{"/auth", http.Header{"Authorization": {"Bearer " + tok}}, 200}},
	}
	type server struct {
		name string
		port int
	}
	servers := []server{{"plain", st.gw.Ports.Plain}, {"noophost", st.gw.Ports.Baseline["noophost"]}, {"headers4", st.gw.Ports.Baseline["headers4"]}, {"noopgo", st.gw.Ports.Baseline["noopgo"]}, {"nometrics", st.gw.Ports.Baseline["nometrics"]}, {"filter", st.gw.Ports.Proxy}}
	if before != "" {
		servers = append(servers, server{"before", st.gw.Ports.Baseline["before"]})
	}
	for _, kd := range kinds {
		b.Run("throughput/"+kd.name, func(b *testing.B) {
			const rounds = 11
			perReq := map[string][]float64{} // µs of worker time per request, per round
			for range rounds {
				for _, sv := range servers {
					base := fmt.Sprintf("http://127.0.0.1:%d", sv.port)
					perReq[sv.name] = append(perReq[sv.name], benchThroughput(b, base, kd.k, worker, 8)/1e3)
				}
			}
			for _, sv := range servers {
				b.ReportMetric(median(perReq[sv.name]), "µs/req-"+sv.name)
			}
			for _, base := range []string{"plain", "noopgo", "before"} {
				if _, ok := perReq[base]; !ok {
					continue
				}
				diff := make([]float64, rounds)
				for i := range diff {
					diff[i] = perReq["filter"][i] - perReq[base][i]
				}
				b.ReportMetric(median(diff), "µs-over-"+base)
			}
		})
		for _, sv := range servers {
			base := fmt.Sprintf("http://127.0.0.1:%d", sv.port)
			b.Run("latency/"+kd.name+"/"+sv.name, func(b *testing.B) {
				benchLatency(b, base, kd.k)
			})
		}
	}
	if c := st.gw.Crashes(); len(c) > 0 {
		b.Errorf("nginx workers crashed:\n%s", strings.Join(c, "\n"))
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// benchThroughput sends b.N requests at concurrency conc and returns the
// worker's on-CPU nanoseconds per request.
func benchThroughput(b *testing.B, base string, k kind, worker, conc int) float64 {
	c := client(conc)
	for range 200 { // warm the connections and the filter's caches
		if _, err := do(c, base, k); err != nil {
			b.Fatal(err)
		}
	}
	cpu0, err := onCPU(worker)
	if err != nil {
		b.Fatal(err)
	}
	failed := sendAll(c, base, b.N, conc, func(int) kind { return k }, nil)
	cpu1, err := onCPU(worker)
	if err != nil {
		b.Fatal(err)
	}
	if n := failed; n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	return float64(cpu1-cpu0) / float64(b.N)
}

func benchLatency(b *testing.B, base string, k kind) {
	c := client(1)
	for range 100 {
		if _, err := do(c, base, k); err != nil {
			b.Fatal(err)
		}
	}
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if status, err := do(c, base, k); err != nil || status != k.status {
			b.Fatalf("%d %v", status, err)
		}
		d = append(d, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(d)
	at := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// onCPU is a process's time on the CPU in nanoseconds, from the
// scheduler's accounting (/proc/PID/schedstat: finer than the clock
// ticks of /proc/PID/stat).
func onCPU(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0, fmt.Errorf("empty schedstat for %d", pid)
	}
	return strconv.ParseInt(f[0], 10, 64)
}

// BenchmarkWorkerProfile records where the nginx worker's time goes
// while it serves one kind of request through one server, with perf:
// KEYCARD_KONG_PERF=SERVER/KIND (filter/token, noopgo/public, ...) go
// test -run '^$' -bench WorkerProfile -benchtime 1x runs 10 s of load
// and writes perf.data to KEYCARD_KONG_PERF_OUT (default
// build/kong-perf.data); read it with perf report --sort dso,sym. It is
// a benchmark, not a test: a profiling aid that make test never runs.
// V8's generated code shows as one anonymous region: compare it with the
// engine's, nginx's and the kernel's shares.
func BenchmarkWorkerProfile(b *testing.B) {
	spec := os.Getenv("KEYCARD_KONG_PERF")
	if spec == "" {
		b.Skip("set KEYCARD_KONG_PERF=SERVER/KIND to profile the nginx worker")
	}
	perf, err := exec.LookPath("perf")
	if err != nil {
		b.Skip("no perf on PATH")
	}
	server, kindName, _ := strings.Cut(spec, "/")
	st := startStackTo(b, true, os.Getenv("KEYCARD_BENCH_BEFORE"))
	ports := map[string]int{"plain": st.gw.Ports.Plain, "filter": st.gw.Ports.Proxy}
	for name, port := range st.gw.Ports.Baseline {
		ports[name] = port
	}
	port, ok := ports[server]
	if !ok {
		b.Fatalf("no server %q", server)
	}
	k := kind{"/", nil, 200}
	if kindName == "token" {
		k = kind{"/auth", http.Header{"Authorization": {"Bearer " + st.token(b, "13000000061", "bench", 1)}}, 200}
	}
	out := os.Getenv("KEYCARD_KONG_PERF_OUT")
	if out == "" {
		out = filepath.Join(root, "build", "kong-perf.data")
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := client(8)
	for range 500 {
		if _, err := do(c, base, k); err != nil {
			b.Fatal(err)
		}
	}
	rec := exec.Command(perf, "record", "-e", "cpu-clock", "-F", "4999", "-g", "-p", strconv.Itoa(st.gw.Workers()[0]), "-o", out, "--", "sleep", "10")
	rec.Stderr = os.Stderr
	if err := rec.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rec.Wait() }()
	var served atomic.Int64
	stop := sendUntilStopped(c, base, k, 8, func(status int, err error) {
		if err == nil && status == k.status {
			served.Add(1)
		}
	})
	err = <-done
	stop()
	if err != nil {
		b.Fatal(err)
	}
	// perf samples at 4999 Hz: a sample is 200 µs of the worker's time.
	b.Logf("perf data: %s; %d requests served while recording (about 10 s): µs per request = samples × 200 / %d", out, served.Load(), served.Load())
}
