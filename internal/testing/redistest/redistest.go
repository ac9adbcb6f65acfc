// Package redistest starts a real redis-server for tests: on a free
// loopback port, with no persistence, stopped when the test ends.
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/internal/testing/loopback"
)

// Server is a running redis-server.
type Server struct {
	Addr string
	port int
	dir  string
	cmd  *exec.Cmd
	t    testing.TB
}

// Start starts redis-server from PATH. Without it the test fails: make
// test installs it (.ci/run), and a skipped test would hide the gap.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not on PATH: run `make test`, which installs it, or apt-get install redis-server")
	}
	port := loopback.Port(t)
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), port: port, dir: t.TempDir(), t: t}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"))
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	for range 200 { // up to 10 s
		if c, err := net.DialTimeout("tcp", s.Addr, 50*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("redis-server did not start on %s", s.Addr)
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return fmt.Sprintf("redis://%s/0", s.Addr) }

// Stop kills the server (as a crash would) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port, empty.
func (s *Server) Restart() { s.Stop(); s.start() }

// StartSentinel starts a Sentinel (redis-server --sentinel) that monitors
// master as "mymaster", and returns its address.
func StartSentinel(t testing.TB, master *Server) string {
	t.Helper()
	port := loopback.Port(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %d 1\nsentinel down-after-milliseconds mymaster 5000\n", port, dir, master.port)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("redis-server", conf, "--sentinel", "--logfile", filepath.Join(dir, "sentinel.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for range 200 {
		if c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("sentinel did not start on %s", addr)
	return ""
}

// StartCluster starts a three-master Redis Cluster (no replicas) on free
// loopback ports and returns the node addresses. It needs redis-cli
// (shipped with redis-server) to join the nodes.
func StartCluster(t testing.TB) []string {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal("redis-cli is not on PATH (it comes with redis-server)")
	}
	var addrs []string
	for range 3 {
		port := loopback.Port(t)
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), port: port, dir: t.TempDir(), t: t}
		s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(s.dir, "nodes.conf"), "--dir", s.dir,
			"--logfile", filepath.Join(s.dir, "redis.log"))
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		waitPort(t, s.Addr)
		addrs = append(addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// Wait until every slot is served.
	for range 100 {
		out, err := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", addrs[0][strings.LastIndexByte(addrs[0], ':')+1:], "cluster", "info").Output()
		if err == nil && strings.Contains(string(out), "cluster_state:ok") {
			return addrs
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the cluster did not reach cluster_state:ok")
	return nil
}

func waitPort(t testing.TB, addr string) {
	t.Helper()
	for range 200 {
		if c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}
