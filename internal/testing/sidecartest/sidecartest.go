// Package sidecartest runs a real sidecar over a real redis-server for
// tests in other packages.
package sidecartest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/testing/redistest"
	"github.com/keycard-gw/keycard/sidecar"
	"github.com/keycard-gw/keycard/sidecar/keyset"
)

// AdminKey is the test sidecar's admin key.
const AdminKey = "sidecartest-admin-key-0123456789"

// GatewayKey is the key the test sidecar requires on /v1/state: a
// filter configuration pointed at it needs it as sidecar.key.
const GatewayKey = "sidecartest-gateway-key-0123456789"

// Sidecar is a running sidecar.
type Sidecar struct {
	URL     string
	Redis   *redistest.Server
	server  *httptest.Server
	handler http.Handler
	addr    string
}

// Start starts Redis and a sidecar in front of it, keeping state for
// service (the policy name). Each option may change the sidecar's
// options (for instance hand it key sets) before it starts.
func Start(t testing.TB, service string, options ...func(*sidecar.Options)) *Sidecar {
	t.Helper()
	rs := redistest.Start(t)
	opts := sidecar.Options{RedisURL: rs.URL(), AdminKey: AdminKey, GatewayKey: GatewayKey, Prefix: "kc:", DefaultService: service,
		UserTTL: time.Hour, TokenTTL: time.Hour, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, Retries: 2}
	for _, o := range options {
		o(&opts)
	}
	sidecar.SetRedisLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	client, err := opts.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	h := sidecar.NewServer(sidecar.NewStore(client, opts.Prefix, opts.UserTTL), opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(h)
	s := &Sidecar{URL: srv.URL, Redis: rs, server: srv, handler: h, addr: srv.Listener.Addr().String()}
	t.Cleanup(func() { s.server.Close() })
	return s
}

// Post calls a business endpoint with the admin key and fails the test
// unless it succeeds.
func (s *Sidecar) Post(t testing.TB, path, body string) {
	t.Helper()
	s.PostData(t, path, body)
}

// PostData is Post returning the envelope's data string (getToken).
func (s *Sidecar) PostData(t testing.TB, path, body string) string {
	t.Helper()
	status, str, err := s.Call(path, body)
	if err != nil || status != 200 {
		t.Fatalf("%s: %d %v", path, status, err)
	}
	return str
}

// Call calls a business endpoint with the admin key and returns the
// HTTP status and the envelope's data string; an answer that is not the
// envelope, or a 200 whose code is not 0, is an error.
func (s *Sidecar) Call(path, body string) (int, string, error) {
	req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Admin-Key", AdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var env struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
		Data any    `json:"data"`
	}
	data, _ := io.ReadAll(resp.Body)
	if err := decode(data, &env); err != nil {
		return resp.StatusCode, "", fmt.Errorf("not the envelope: %s", data)
	}
	if resp.StatusCode == 200 && env.Code != 0 {
		return resp.StatusCode, "", fmt.Errorf("code %d: %s", env.Code, env.Msg)
	}
	if resp.StatusCode != 200 {
		return resp.StatusCode, "", nil
	}
	str, _ := env.Data.(string)
	return resp.StatusCode, str, nil
}

// Stop stops the sidecar (in-flight calls fail).
func (s *Sidecar) Stop() { s.server.Close() }

// Restart serves again on the same address, as a restarted process would.
func (s *Sidecar) Restart(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	s.server = srv
}

// WaitReady waits (up to ten seconds) until the sidecar reaches Redis
// again, as a load balancer's readiness probe would.
func (s *Sidecar) WaitReady(t testing.TB) time.Duration {
	t.Helper()
	start := time.Now()
	for range 200 {
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(start)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the sidecar did not reach Redis again within 10s")
	return 0
}

// StartHolding starts a sidecar that holds the keys of cfg's remote
// issuers (keycard sidecar --policy), fetched with client and refreshed
// until the test ends; secret resolves run-time secrets.
func StartHolding(t testing.TB, cfg *config.Config, client *http.Client, secret func(name string) ([]byte, error)) *Sidecar {
	t.Helper()
	srcs, err := keyset.Sources(cfg, secret)
	if err != nil {
		t.Fatal(err)
	}
	sets := keyset.New(srcs, client, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go sets.Run(ctx)
	return Start(t, cfg.Policy, func(o *sidecar.Options) { o.Keys = sets })
}
