// Command sidecarload measures the sidecar's filter-facing endpoint from
// a separate process, the way gateways reach it: it starts a real
// redis-server and a real `keycard sidecar`, issues tokens through the
// admin API, then offers GET /v1/state at fixed rates (open loop, over
// loopback, with keep-alive) and prints, per rate, the achieved rate,
// latency percentiles and the CPU the sidecar and Redis used.
//
// Latency is counted from the moment a request was due, not from when a
// connection was free to send it, so a sidecar that falls behind shows
// its queue in the percentiles instead of hiding it by slowing the load;
// the p99 from the moment of sending is printed beside it. Requests leave
// on time to within about 0.1 ms (pace_linux.go) over prepared requests
// on plain keep-alive connections (wire.go), so that the load tool's own
// cost and timer lateness stay out of the sidecar's figures.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keycard-gw/keycard/state"
)

const (
	adminKey   = "bench-admin-key-0123456789abcdef"
	gatewayKey = "bench-gateway-key-0123456789abcdef"
)

func main() {
	keycard := flag.String("keycard", "keycard", "the keycard binary")
	redisServer := flag.String("redis-server", "redis-server", "the redis-server binary")
	rates := flag.String("rates", "5000,10000,20000", "offered rates, answers per second, comma-separated")
	duration := flag.Duration("duration", 20*time.Second, "how long each rate is offered")
	conns := flag.Int("conns", 64, "keep-alive connections (and sending goroutines)")
	users := flag.Int("users", 64, "users with a registered token each")
	socket := flag.Bool("redis-socket", false, "reach Redis over a Unix socket instead of loopback TCP")
	procs := flag.Int("sidecar-procs", 0, "GOMAXPROCS of the sidecar process (0: Go's default, the machine's cores)")
	client := flag.String("client", "wire", "the load's HTTP client: wire (prepared requests on plain keep-alive connections, a gateway's cost) or nethttp (Go's net/http client)")
	flag.Parse()
	if *client != "wire" && *client != "nethttp" {
		fmt.Fprintln(os.Stderr, "sidecarload: -client is wire or nethttp")
		os.Exit(2)
	}
	if err := run(*keycard, *redisServer, *rates, *duration, *conns, *users, *socket, *client, *procs); err != nil {
		fmt.Fprintln(os.Stderr, "sidecarload:", err)
		os.Exit(1)
	}
}

func run(keycard, redisServer, rateList string, duration time.Duration, conns, users int, socket bool, clientKind string, procs int) error {
	var offered []int
	for _, f := range strings.Split(rateList, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r <= 0 {
			return fmt.Errorf("-rates: %q is not a positive rate", f)
		}
		offered = append(offered, r)
	}
	// Redis listens on a free loopback port, or only on a Unix socket in
	// a directory of its own.
	network, address := "tcp", ""
	redisArgs := []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	if socket {
		dir, err := os.MkdirTemp("", "sidecarload")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		network, address = "unix", filepath.Join(dir, "redis.sock")
		redisArgs = append(redisArgs, "--port", "0", "--unixsocket", address)
	} else {
		port, err := freePort()
		if err != nil {
			return err
		}
		address = fmt.Sprintf("127.0.0.1:%d", port)
		redisArgs = append(redisArgs, "--port", strconv.Itoa(port))
	}
	redis := exec.Command(redisServer, redisArgs...)
	if err := redis.Start(); err != nil {
		return fmt.Errorf("redis-server: %v", err)
	}
	defer stop(redis)
	if err := waitRedis(network, address); err != nil {
		return err
	}
	redisURL := "redis://" + address + "/0"
	if socket {
		redisURL = "unix://" + address
	}
	sidecarPort, err := freePort()
	if err != nil {
		return err
	}
	var sidecarLog bytes.Buffer
	sc := exec.Command(keycard, "sidecar", "--listen", fmt.Sprintf("127.0.0.1:%d", sidecarPort),
		"--redis-url", redisURL, "--admin-key", adminKey, "--gateway-key", gatewayKey)
	sc.Stderr = &sidecarLog
	if procs > 0 {
		sc.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", procs))
	}
	if err := sc.Start(); err != nil {
		return fmt.Errorf("keycard sidecar: %v", err)
	}
	defer stop(sc)
	base := fmt.Sprintf("http://127.0.0.1:%d", sidecarPort)
	if err := waitReady(base); err != nil {
		return fmt.Errorf("%v\n%s", err, sidecarLog.String())
	}
	urls, err := seed(base, users)
	if err != nil {
		return err
	}

	ask, closeAll, err := newAsker(clientKind, urls, conns)
	if err != nil {
		return err
	}
	defer closeAll()
	procsNote := "default"
	if procs > 0 {
		procsNote = strconv.Itoa(procs)
	}
	fmt.Printf("sidecarload: %d users, %d keep-alive connections (%s client), %s per rate, Redis over %s, sidecar GOMAXPROCS %s, latency from the due time\n\n", users, conns, clientKind, duration, network, procsNote)
	fmt.Println("| offered/s | achieved/s | p50 | p99 | p99.9 | p99 from sending | errors | sidecar CPU | redis CPU | load tool CPU | reads per pipeline |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, rate := range offered {
		// A short warm-up at the same rate opens the connections.
		offer(ask, rate, time.Second, conns)
		sc0, rd0, me0 := cpuTicks(sc.Process.Pid), cpuTicks(redis.Process.Pid), cpuTicks(os.Getpid())
		reads0, pipes0 := batching(base)
		res := offer(ask, rate, duration, conns)
		sc1, rd1, me1 := cpuTicks(sc.Process.Pid), cpuTicks(redis.Process.Pid), cpuTicks(os.Getpid())
		reads1, pipes1 := batching(base)
		fmt.Printf("| %d | %.0f | %s | %s | %s | %s | %d | %s | %s | %s | %.2f |\n", rate, res.achieved, ms(res.pct(0.50)), ms(res.pct(0.99)), ms(res.pct(0.999)), ms(percentile(res.served, 0.99)), res.errors,
			cpuShare(sc1-sc0, res.elapsed), cpuShare(rd1-rd0, res.elapsed), cpuShare(me1-me0, res.elapsed), float64(reads1-reads0)/float64(max(pipes1-pipes0, 1)))
	}
	return nil
}

type result struct {
	lat      []time.Duration // from the due time
	served   []time.Duration // from the moment it was sent
	errors   int64
	achieved float64
	elapsed  time.Duration
}

func (r result) pct(p float64) time.Duration { return percentile(r.lat, p) }

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// asker sends request i from worker w (each worker owns a connection)
// and reads its answer.
type asker func(w, i int) error

// newAsker builds the client the load uses: conns connections, each
// worker's own, asking for the users' states in turn.
func newAsker(kind string, urls []string, conns int) (asker, func(), error) {
	if kind == "nethttp" {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}, Timeout: 5 * time.Second}
		return func(_, i int) error { return ask(client, urls[i%len(urls)]) }, client.CloseIdleConnections, nil
	}
	reqs := make([][]byte, len(urls))
	var addr string
	for i, u := range urls {
		var err error
		if reqs[i], addr, err = request(u); err != nil {
			return nil, nil, err
		}
	}
	pool := make([]wireConn, conns)
	for w := range pool {
		pool[w].addr = addr
	}
	closeAll := func() {
		for w := range pool {
			pool[w].close()
		}
	}
	return func(w, i int) error { return pool[w].get(reqs[i%len(reqs)]) }, closeAll, nil
}

// offer sends rate requests a second for d from conns goroutines: a
// scheduler hands each request its due time, and the latency of a
// request runs from that time to the end of its answer.
func offer(ask asker, rate int, d time.Duration, conns int) result {
	total := int(float64(rate) * d.Seconds())
	due := make(chan time.Time, total)
	var mu sync.Mutex
	var all, served []time.Duration
	var errs atomic.Int64
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, total/conns+1)
			mineServed := make([]time.Duration, 0, total/conns+1)
			i := w
			for t := range due {
				i += conns
				sent := time.Now()
				if err := ask(w, i); err != nil {
					errs.Add(1)
					continue
				}
				end := time.Now()
				mine = append(mine, end.Sub(t))
				mineServed = append(mineServed, end.Sub(sent))
			}
			mu.Lock()
			all = append(all, mine...)
			served = append(served, mineServed...)
			mu.Unlock()
		}()
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	pace := newPacer()
	for i := 0; i < total; {
		now := time.Now()
		// Every request due by now goes out; the scheduler then sleeps
		// until the next one is due.
		for ; i < total; i++ {
			t := start.Add(time.Duration(i) * interval)
			if t.After(now) {
				break
			}
			due <- t
		}
		if i < total {
			pace.until(start.Add(time.Duration(i) * interval))
		}
	}
	pace.done()
	close(due)
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	slices.Sort(served)
	return result{lat: all, served: served, errors: errs.Load(), achieved: float64(len(all)) / elapsed.Seconds(), elapsed: elapsed}
}

func ask(client *http.Client, url string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Keycard-Gateway-Key", gatewayKey)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// seed issues one token per user through the admin API and returns the
// state URL the filter would ask for each.
func seed(base string, users int) ([]string, error) {
	var urls []string
	for i := range users {
		user := fmt.Sprintf("bench-user-%d", i)
		body := fmt.Sprintf(`{"serviceId":"shop","userId":%q}`, user)
		req, _ := http.NewRequest(http.MethodPost, base+"/auth/getToken", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Admin-Key", adminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		var env struct {
			Code int
			Msg  string
			Data string
		}
		err = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if err != nil || env.Code != 0 || env.Data == "" {
			return nil, fmt.Errorf("getToken for %s: %v %d %s", user, err, env.Code, env.Msg)
		}
		n := state.Name{Service: "shop", Kind: state.KindOpaque, ID: state.SignedID(env.Data)}
		urls = append(urls, base+n.Query())
	}
	// The answer must be the registered token's, or the run measures
	// the wrong path.
	req, _ := http.NewRequest(http.MethodGet, urls[0], nil)
	req.Header.Set("X-Keycard-Gateway-Key", gatewayKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(data, []byte(`"token":"active"`)) {
		return nil, fmt.Errorf("state of a registered token: %d %s", resp.StatusCode, data)
	}
	return urls, nil
}

// batching reads the sidecar's state reads and Redis pipelines from its
// metrics.
func batching(base string) (reads, pipelines float64) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), " ")
		v, _ := strconv.ParseFloat(value, 64)
		switch name {
		case "keycard_sidecar_state_reads_total":
			reads = v
		case "keycard_sidecar_state_pipelines_total":
			pipelines = v
		}
	}
	return reads, pipelines
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitRedis(network, address string) error {
	for range 100 {
		if c, err := net.Dial(network, address); err == nil {
			fmt.Fprint(c, "PING\r\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("redis-server did not answer PING within 5 s")
}

func waitReady(base string) error {
	for range 100 {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("keycard sidecar was not ready within 5 s")
}

func stop(c *exec.Cmd) {
	_ = c.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		c.Process.Kill()
		<-done
	}
}

// cpuTicks is the user plus system time of a process, in clock ticks,
// from /proc (Linux); 0 where there is none.
func cpuTicks(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and
	// may hold spaces: utime and stime are the 12th and 13th.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// cpuShare is CPU time as a share of one core over elapsed (Linux's
// clock tick is 1/100 s).
func cpuShare(ticks int64, elapsed time.Duration) string {
	return fmt.Sprintf("%.0f %%", float64(ticks)/100/elapsed.Seconds()*100)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
