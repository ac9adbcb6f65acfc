package kongtest

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"
)

// testHTTP covers what a gateway sees besides the decision: bodies,
// HTTP/1.0, connection reuse and clients that send identity headers.
func (st *stack) testHTTP(t *testing.T) {
	addr := st.gw.Ports.ProxyAddr()
	level1 := bearer(st.token(t, "13000000001", "http", 1))

	t.Run("large POST body", func(t *testing.T) {
		body := bytes.Repeat([]byte("k"), 4<<20)
		r, err := raw(addr, "POST", "a.shop.example", "/auth", level1, body, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Echo == nil || r.Echo.BodySize != int64(len(body)) {
			t.Fatalf("got %d %s, upstream %+v; want the whole body upstream", r.Status, r.Reason, r.Echo)
		}
		r, err = raw(addr, "POST", "a.shop.example", "/auth", nil, body, "")
		if err != nil || r.Status != 401 || r.Reason != "no_token" {
			t.Fatalf("without a token: %+v %v", r, err)
		}
	})

	t.Run("HTTP/1.0", func(t *testing.T) {
		for _, tc := range []struct {
			target string
			header [][2]string
			status int
		}{{"/", nil, 200}, {"/auth", nil, 401}, {"/auth", level1, 200}} {
			r, err := raw(addr, "GET", "a.shop.example", tc.target, tc.header, nil, "HTTP/1.0")
			if err != nil || r.Status != tc.status {
				t.Errorf("%s: %+v %v, want %d", tc.target, r, err, tc.status)
			}
		}
	})

	t.Run("keep-alive", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(conn)
		steps := []struct {
			target string
			header [][2]string
			status int
			reason string
		}{
			{"/", nil, 200, ""},
			{"/auth", nil, 401, "no_token"},
			{"/auth", level1, 200, ""},
			{"/admin/x", level1, 403, "insufficient_level"},
			{"/auth", level1, 200, ""},
			{"/nowhere", level1, 403, "no_route"},
			{"/", nil, 200, ""},
		}
		for i, s := range steps {
			if err := writeRequest(conn, "GET", "a.shop.example", s.target, s.header, nil, "", false); err != nil {
				t.Fatalf("request %d on the same connection: %v", i, err)
			}
			r, err := readOne(br)
			if err != nil {
				t.Fatalf("response %d on the same connection: %v", i, err)
			}
			if r.Status != s.status || r.Reason != s.reason {
				t.Errorf("request %d %s: got %d %s, want %d %s", i, s.target, r.Status, r.Reason, s.status, s.reason)
			}
		}
	})

	// Kong's host cannot remove a request header before the upstream, so
	// the filter refuses a client copy of a forwarded header, in any
	// case and with "_" for "-" (Kong keeps such names:
	// underscores_in_headers on).
	t.Run("spoofed identity headers", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			target string
			header [][2]string
		}{
			{"with a token", "/auth", append(bearer(st.token(t, "13000000001", "spoof", 1)), [2]string{"X-Auth-Level", "9"})},
			{"lower case on a public route", "/", [][2]string{{"x-auth-phone", "13999999999"}}},
			{"mixed case, twice", "/", [][2]string{{"X-AUTH-ROLES", "admin"}, {"x-Auth-Roles", "root"}}},
			{"underscores", "/auth", append(bearer(st.token(t, "13000000001", "spoof", 1)), [2]string{"X_Auth_Level", "9"})},
			{"underscores on a public route", "/", [][2]string{{"x_auth_phone", "1"}}},
		} {
			r, err := raw(addr, "GET", "a.shop.example", tc.target, tc.header, nil, "")
			if err != nil || r.Status != 400 || r.Reason != "identity_header" {
				t.Errorf("%s: %+v %v, want 400 identity_header", tc.name, r, err)
			}
		}
		r, err := raw(addr, "GET", "a.shop.example", "/auth", append(level1, [2]string{"X-Auth-Levels", "9"}), nil, "")
		if err != nil || r.Echo == nil {
			t.Fatalf("a header that only looks alike: %+v %v", r, err)
		}
		if v, _ := r.Echo.Header("x-auth-level"); v != "1" {
			t.Errorf("x-auth-level upstream = %q, want the token's 1", v)
		}
	})
}
