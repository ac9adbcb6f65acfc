package sidecar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/config"

	"github.com/keycard-gw/keycard/sidecar/keyset"
	"github.com/redis/go-redis/v9"
)

// Run serves until ctx ends, then shuts down gracefully: in-flight
// requests get up to ten seconds.
func Run(ctx context.Context, opts Options, log *slog.Logger, ready func(addr string)) error {
	// Reading a user's level, roles and status is the gateway's alone:
	// a business service holds the admin key, not this one.
	switch {
	case opts.GatewayKey == "":
		return errors.New("sidecar: --gateway-key (or KEYCARD_GATEWAY_KEY) is required: the key the filter sends to read token state (keycard render --sidecar-key)")
	case len(opts.GatewayKey) < config.MinKeyBytes:
		return fmt.Errorf("sidecar: the gateway key must be at least %d bytes", config.MinKeyBytes)
	case opts.GatewayKey == opts.AdminKey:
		return errors.New("sidecar: the gateway key and the admin key must differ: the gateway reads state, business services write it")
	}
	debug, err := listenDebug(opts.DebugListen)
	if err != nil {
		return err
	}
	if debug != nil {
		defer debug.Close()
		log.Info("sidecar profiler listening", "addr", debug.Addr().String())
		go serveDebug(debug)
	}
	if opts.Keys == nil && len(opts.KeySources) > 0 {
		client, err := KeyClient(opts.CAFile)
		if err != nil {
			return err
		}
		opts.Keys = keyset.New(opts.KeySources, client, time.Now, log)
	}
	if opts.Keys != nil {
		go opts.Keys.Run(ctx)
		log.Info("sidecar holds keys", "issuers", strings.Join(opts.Keys.Issuers(), ","))
	}
	SetRedisLogger(log)
	rdb, err := opts.Client()
	if err != nil {
		return err
	}
	defer rdb.Close()
	srv := &http.Server{
		Handler:           NewServer(NewStore(rdb, opts.Prefix, opts.UserTTL), opts, log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return err
	}
	log.Info("sidecar listening", "addr", ln.Addr().String())
	if ready != nil {
		ready(ln.Addr().String())
	}
	go watchRedis(ctx, rdb, log)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("sidecar stopped")
	return nil
}

// KeyClient is the HTTP client that fetches key sets: the system's roots
// plus caFile's, TLS 1.2 at least, no proxy from the environment
// (a provider's keys go straight to the provider), a bounded number of
// redirects.
func KeyClient(caFile string) (*http.Client, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if caFile != "" {
		data, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("sidecar: --ca-file: %w", err)
		}
		if !roots.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("sidecar: --ca-file %s: no PEM certificate in it", caFile)
		}
	}
	tr := &http.Transport{
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 3 {
			return errors.New("more than 3 redirects")
		}
		if req.URL.Scheme != "https" && via[0].URL.Scheme == "https" {
			return errors.New("redirect from https to " + req.URL.Scheme)
		}
		return nil
	}}, nil
}

// listenDebug opens the profiler's listener. It must be a loopback
// address: profiles and goroutine dumps show request data.
func listenDebug(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("sidecar: --debug-listen %q: %v", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("sidecar: --debug-listen %s: the profiler serves on a loopback address only (127.0.0.1, ::1 or localhost)", addr)
	}
	return net.Listen("tcp", addr)
}

// serveDebug serves net/http/pprof's handlers on their own mux, never
// on the API's.
func serveDebug(ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	_ = srv.Serve(ln)
}

// SetRedisLogger sends go-redis's own messages (connection pool
// failures) to log at debug level instead of the standard logger: while
// Redis is down they would flood stderr, and /metrics and the error
// answers already say so.
func SetRedisLogger(log *slog.Logger) { redis.SetLogger(redisLogger{log}) }

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// watchRedis says at start whether Redis answers, and while it does not,
// keeps trying (go-redis reconnects by itself; this only tells the
// operator), saying once when it answers again.
func watchRedis(ctx context.Context, rdb redis.UniversalClient, log *slog.Logger) {
	down := false
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := rdb.Ping(pctx).Err()
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !down:
			log.Error("Redis is unreachable; the filter gets 503 (or on_error) until it answers; retrying every 5s", "err", err)
			down = true
		case err == nil && down:
			log.Info("Redis answers again")
			down = false
		case err == nil && !down:
			// Up at start: nothing to say until it goes away.
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}
