package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// wireConn is one keep-alive HTTP/1.1 connection that sends prepared
// GET requests and reads their answers, one at a time, the way a
// gateway's connection pool does. Go's net/http client spends about
// 100 µs of CPU per request on this machine (a reader and a writer
// goroutine per connection, handoffs between them), which on 2 shared
// cores takes CPU from the sidecar being measured and puts the load
// tool's own scheduling delays into the percentiles; a gateway's client
// is C or C++ and costs a few microseconds.
type wireConn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
}

// request is the bytes of one GET with the gateway key.
func request(rawURL string) ([]byte, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", err
	}
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\n%s: %s\r\n\r\n", u.RequestURI(), u.Host, "X-Keycard-Gateway-Key", gatewayKey)
	return []byte(req), u.Host, nil
}

// get sends req and reads the whole answer; anything but a 200 with a
// Content-Length is an error, and the connection is dropped after one.
func (w *wireConn) get(req []byte) error {
	if w.c == nil {
		c, err := net.DialTimeout("tcp", w.addr, 5*time.Second)
		if err != nil {
			return err
		}
		w.c, w.r = c, bufio.NewReaderSize(c, 4096)
	}
	w.c.SetDeadline(time.Now().Add(5 * time.Second))
	err := w.exchange(req)
	if err != nil {
		w.c.Close()
		w.c = nil
	}
	return err
}

func (w *wireConn) exchange(req []byte) error {
	if _, err := w.c.Write(req); err != nil {
		return err
	}
	line, err := w.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("answer %q", bytes.TrimSpace(line))
	}
	length := -1
	for {
		line, err = w.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 { // the blank line after the headers
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(name, []byte("Content-Length")) {
			length, err = strconv.Atoi(string(bytes.TrimSpace(value)))
			if err != nil {
				return fmt.Errorf("Content-Length %q", value)
			}
		}
	}
	if length < 0 {
		return errors.New("answer without Content-Length")
	}
	_, err = w.r.Discard(length)
	return err
}

func (w *wireConn) close() {
	if w.c != nil {
		w.c.Close()
	}
}
