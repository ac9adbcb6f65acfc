package kongtest

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
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
// per-request proxy_increment_metric call) and without any filter (the
// plain server), for a public route and a request with a cached token.
//
//   - throughput: requests at concurrency 8 over keep-alive connections;
//     worker-ns/op is the worker's on-CPU time per request
//     (/proc/PID/schedstat), which the load generator's own cost on the
//     other core does not disturb. The filter's cost is the difference
//     between the filter and plain rows.
//   - latency: one request at a time; p50 and p99 in microseconds.
func BenchmarkKong(b *testing.B) {
	st := startStackTo(b, true)
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
	servers := []struct {
		name string
		port int
	}{{"plain", st.gw.Ports.Plain}, {"noophost", st.gw.Ports.Baseline["noophost"]}, {"headers4", st.gw.Ports.Baseline["headers4"]}, {"noopgo", st.gw.Ports.Baseline["noopgo"]}, {"nometrics", st.gw.Ports.Baseline["nometrics"]}, {"filter", st.gw.Ports.Proxy}}
	for _, kd := range kinds {
		for _, sv := range servers {
			base := fmt.Sprintf("http://127.0.0.1:%d", sv.port)
			b.Run("throughput/"+kd.name+"/"+sv.name, func(b *testing.B) {
				benchThroughput(b, base, kd.k, worker, 8)
			})
			b.Run("latency/"+kd.name+"/"+sv.name, func(b *testing.B) {
				benchLatency(b, base, kd.k)
			})
		}
	}
	if c := st.gw.Crashes(); len(c) > 0 {
		b.Errorf("nginx workers crashed:\n%s", strings.Join(c, "\n"))
	}
}

func benchThroughput(b *testing.B, base string, k kind, worker, conc int) {
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
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if status, err := do(c, base, k); err != nil || status != k.status {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	cpu1, err := onCPU(worker)
	if err != nil {
		b.Fatal(err)
	}
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "worker-ns/op")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
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
