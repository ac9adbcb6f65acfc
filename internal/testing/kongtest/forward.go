package kongtest

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// Forwarder is a TCP relay on loopback in front of the sidecar, so a
// test can make the sidecar slow without touching it. When the target
// refuses, the relay closes the client's connection: the gateway sees a
// broken connection, as with a sidecar that died.
type Forwarder struct {
	Addr   string
	target string
	delay  atomic.Int64 // nanoseconds before a connection is relayed
	ln     net.Listener
}

// StartForwarder relays connections on a free loopback port to target
// until the test ends.
func StartForwarder(t testing.TB, target string) *Forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &Forwarder{Addr: ln.Addr().String(), target: target, ln: ln}
	go f.serve()
	t.Cleanup(func() { ln.Close() }) // relays in flight end with their peers
	return f
}

// Delay makes every new connection wait d before it is relayed.
func (f *Forwarder) Delay(d time.Duration) { f.delay.Store(int64(d)) }

func (f *Forwarder) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		go f.relay(c)
	}
}

func (f *Forwarder) relay(c net.Conn) {
	defer c.Close()
	if d := time.Duration(f.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	up, err := net.DialTimeout("tcp", f.target, time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}
