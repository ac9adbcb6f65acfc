// Package loopback hands tests free ports on the loopback interface, for
// servers started as separate processes (nginx, redis-server, node) that
// are told their port rather than handed a listener.
package loopback

import (
	"net"
	"testing"
)

// Port asks the kernel for a free port on 127.0.0.1. The port is free
// when Port returns; the process that is to listen on it should be
// started at once.
func Port(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
