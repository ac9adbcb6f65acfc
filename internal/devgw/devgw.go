// Package devgw is `keycard dev`: a local gateway that runs the real
// filter module in the wasmhost in front of upstreams, the way Kong or
// Envoy would, with the sidecar in-process and Redis embedded unless one
// is given. It is a development tool; production runs in Kong or Envoy.
//
// Concurrency: a proxy-wasm VM runs one callback at a time, so the
// gateway keeps a pool of VMs (one per worker, default two) and each
// request takes one for its filter callbacks; a request waiting for the
// sidecar gives its VM's lock back while the call is in flight.
package devgw

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/filter/httppath"
	"github.com/keycard-gw/keycard/internal/idp"
	"github.com/keycard-gw/keycard/internal/wasmhost"
	"github.com/keycard-gw/keycard/sidecar"
	"github.com/keycard-gw/keycard/sidecar/keyset"
)

// Options configure the gateway.
type Options struct {
	Policy    []string          // policy files or directory
	Wasm      []byte            // the filter module
	Upstreams map[string]string // service -> base URL; missing ones get a demo upstream
	RedisURL  string            // empty: embedded Redis
	Listen    string            // gateway address, default 127.0.0.1:8000
	Workers   int               // VMs, default 2
	AdminKey  string            // sidecar admin key; default generated
	Log       *slog.Logger
	AccessLog io.Writer

	// ProviderListen, when set, is where the demo OpenID provider
	// listens instead of DemoIssuer's address (tests: "127.0.0.1:0"); the
	// filter and the sidecar are then pointed at the address taken, and
	// the log says so.
	ProviderListen string

	// CAFile holds PEM roots trusted, besides the system's, for fetching
	// the key sets of the policy's other providers (one on loopback
	// with its own CA, for instance).
	CAFile string
}

// DemoIssuer is the example policy's OpenID issuer (policies/shop.yaml,
// issuer sso). keycard dev serves its demo provider for an oidc issuer
// at exactly this URL, and for no other: any other provider, loopback or
// not, is a real one whose keys the sidecar fetches.
const DemoIssuer = "https://127.0.0.1:8443"

// Gateway is a running local gateway.
type Gateway struct {
	Addr       string // gateway address
	SidecarURL string // in-process sidecar (business API)
	AdminKey   string
	Result     *compiler.Result
	Store      *sidecar.Store
	// Providers are the OpenID providers keycard dev serves, by issuer
	// name: the oidc issuers at DemoIssuer.
	Providers map[string]*idp.Provider
	CertFile  string // the providers' certificates, for curl --cacert

	closers  []func()
	pathOpts httppath.Options // the filter's reading of paths, which routing follows
	vms      chan *wasmhost.VM
	all      []*wasmhost.VM
	upstream map[string]*httputil.ReverseProxy
	access   io.Writer
	log      *slog.Logger
}

// Start builds and starts everything; Close stops it.
func Start(ctx context.Context, o Options) (g *Gateway, err error) {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:8000"
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.AdminKey == "" {
		o.AdminKey = "dev-admin-key-" + randomHex(8)
	}
	gw := &Gateway{AdminKey: o.AdminKey, access: o.AccessLog, log: o.Log, upstream: map[string]*httputil.ReverseProxy{}}
	g = gw
	defer func() {
		if err != nil {
			gw.Close() // g is nil by now: every failure returns nil, err
		}
	}()
	res, err := compiler.CompileFiles(o.Policy, compiler.Settings{SidecarUp: "keycard_sidecar"})
	if err != nil {
		return nil, err
	}
	g.Result = res
	g.pathOpts = filter.PathOptions(&res.Config.Options)

	// Redis: the given one, or an embedded one.
	redisURL := o.RedisURL
	if redisURL == "" {
		mr, err := miniredis.Run()
		if err != nil {
			return nil, fmt.Errorf("embedded redis: %w", err)
		}
		g.closers = append(g.closers, mr.Close)
		redisURL = "redis://" + mr.Addr() + "/0"
	}
	cfg := *res.Config
	if err := g.startProviders(&cfg, o); err != nil {
		return nil, err
	}
	gatewayKey := "dev-gateway-key-" + randomHex(8) // only the filter below reads token state
	sopts := sidecar.Options{RedisURL: redisURL, AdminKey: o.AdminKey, GatewayKey: gatewayKey, Prefix: "keycard:", DefaultService: res.Config.Policy,
		UserTTL: 30 * 24 * time.Hour, TokenTTL: 2 * time.Hour, DialTimeout: time.Second, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond, Retries: 2}
	sidecar.SetRedisLogger(o.Log)
	rdb, err := sopts.Client()
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, func() { rdb.Close() })
	g.Store = sidecar.NewStore(rdb, sopts.Prefix, sopts.UserTTL)
	if err := g.holdKeys(ctx, &cfg, &sopts); err != nil {
		return nil, err
	}
	scURL, err := g.serve("127.0.0.1:0", sidecar.NewServer(g.Store, sopts, o.Log))
	if err != nil {
		return nil, err
	}
	g.SidecarURL = scURL

	// Upstreams: the given ones, demo echo services for the rest.
	for _, s := range res.Policy.Services {
		raw, ok := o.Upstreams[s.Name]
		if !ok {
			if raw, err = g.serve("127.0.0.1:0", demoUpstream(s.Name)); err != nil {
				return nil, err
			}
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("upstream of %s: %q is not a URL", s.Name, raw)
		}
		g.upstream[s.Name] = &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u); r.Out.Host = r.In.Host },
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				g.log.Warn("upstream failed", "service", s.Name, "err", err)
				http.Error(w, `{"code":502,"success":false,"data":"","msg":"Bad Gateway"}`, http.StatusBadGateway)
			},
		}
	}
	for name := range o.Upstreams {
		if _, ok := g.upstream[name]; !ok {
			return nil, fmt.Errorf("--upstream %s: the policy has no such service", name)
		}
	}

	// The filter: one compiled module, a pool of VMs.
	cfg.Gateway = config.GatewayEnvoy // the wasmhost runs in its Envoy flavour here
	cfg.Sidecar.Key = gatewayKey
	conf, err := json.Marshal(&cfg)
	if err != nil {
		return nil, err
	}
	caller := wasmhost.HTTPCaller(&http.Client{Timeout: 5 * time.Second}, map[string]string{res.Config.Sidecar.Upstream: scURL})
	host, err := wasmhost.Compile(ctx, o.Wasm, wasmhost.Options{Gateway: cfg.Gateway, Caller: caller})
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, func() { host.Close(context.Background()) })
	g.vms = make(chan *wasmhost.VM, o.Workers)
	for range o.Workers {
		vm, err := host.NewVM(ctx, conf)
		if err != nil {
			return nil, err
		}
		g.vms <- vm
		g.all = append(g.all, vm)
	}
	g.tick(ctx)
	g.Addr, err = g.serve(o.Listen, http.HandlerFunc(g.handle))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("the gateway cannot listen on %s: another program uses that port (choose another with --listen)", o.Listen)
		}
		return nil, fmt.Errorf("the gateway cannot listen on %s: %w", o.Listen, err)
	}
	g.Addr = strings.TrimPrefix(g.Addr, "http://")
	return g, nil
}

// startProviders serves the demo OpenID provider for the policy's oidc
// issuers at DemoIssuer, so that their tokens verify through keys the
// sidecar fetches, as in production. It writes CertFile: the provider's
// certificate, then the roots of o.CAFile.
func (g *Gateway) startProviders(cfg *config.Config, o Options) error {
	g.Providers = map[string]*idp.Provider{}
	issuers := append([]config.Issuer(nil), cfg.Identity.Issuers...)
	cfg.Identity.Issuers = issuers
	var certs []byte
	for i := range issuers {
		is := &issuers[i]
		if is.Remote == nil || strings.TrimSuffix(is.Remote.OIDCIssuer, "/") != DemoIssuer {
			continue // a real provider: the sidecar fetches from it
		}
		addr := o.ProviderListen
		if addr == "" {
			addr = strings.TrimPrefix(DemoIssuer, "https://")
		}
		p, err := idp.Start(addr, g.AdminKey)
		if err != nil {
			hint := ""
			if o.ProviderListen == "" && errors.Is(err, syscall.EADDRINUSE) {
				hint = " (another program uses that port: serve the demo provider elsewhere with --provider-listen ADDR)"
			}
			return fmt.Errorf("issuer %s: keycard dev serves its demo OpenID provider on %s and cannot listen there: %w%s", is.Name, addr, err, hint)
		}
		g.closers = append(g.closers, p.Close)
		if len(is.Audiences) > 0 {
			p.Audience = is.Audiences[0]
		}
		g.Providers[is.Name] = p
		if p.URL != DemoIssuer {
			// Served elsewhere (--provider-listen): its tokens carry its
			// own address as iss, and the filter and the sidecar take
			// that in place of the policy's. keycard dev says so.
			r := *is.Remote
			r.OIDCIssuer, is.Issuer = p.URL, p.URL
			is.Remote = &r
		}
		certs = append(certs, p.CertPEM()...)
	}
	if o.CAFile != "" {
		data, err := os.ReadFile(o.CAFile)
		if err != nil {
			return fmt.Errorf("--ca-file: %w", err)
		}
		certs = append(certs, data...)
	}
	if len(certs) == 0 {
		return nil
	}
	f, err := os.CreateTemp("", "keycard-dev-oidc-*.pem")
	if err != nil {
		return err
	}
	g.closers = append(g.closers, func() { os.Remove(f.Name()) })
	if _, err := f.Write(certs); err != nil {
		f.Close()
		return err
	}
	g.CertFile = f.Name()
	return f.Close()
}

// holdKeys gives the sidecar the keys it holds for the filter: remote
// key sets (the dev providers' among them) and run-time secrets from
// KEYCARD_SECRET_<NAME>.
func (g *Gateway) holdKeys(ctx context.Context, cfg *config.Config, sopts *sidecar.Options) error {
	srcs, err := keyset.Sources(cfg, func(name string) ([]byte, error) {
		env := config.SecretEnv(name)
		if v := os.Getenv(env); v != "" {
			return []byte(v), nil
		}
		return nil, fmt.Errorf("run-time secret %s: set %s", name, env)
	})
	if err != nil || len(srcs) == 0 {
		return err
	}
	client, err := sidecar.KeyClient(g.CertFile)
	if err != nil {
		return err
	}
	sopts.Keys = keyset.New(srcs, client, time.Now, g.log)
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g.closers = append(g.closers, cancel)
	go sopts.Keys.Run(kctx)
	return nil
}

// tick runs the VMs' ticks at the period they asked for, as a host's
// timer would: the filter polls the sidecar for key sets on it.
func (g *Gateway) tick(ctx context.Context) {
	if len(g.all) == 0 || g.all[0].TickPeriod() == 0 {
		return
	}
	period := g.all[0].TickPeriod()
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	g.closers = append(g.closers, func() { cancel(); <-done })
	go func() {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-tctx.Done():
				return
			case <-t.C:
			}
			for _, vm := range g.all {
				if _, err := vm.Tick(tctx); err != nil && tctx.Err() == nil {
					g.log.Error("filter tick", "err", err)
				}
			}
		}
	}()
}

// serve starts an HTTP server on addr and returns its base URL.
func (g *Gateway) serve(addr string, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 64 << 10}
	go srv.Serve(ln)
	g.closers = append(g.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String(), nil
}

// Close stops the gateway, the sidecar, the upstreams and Redis, most
// recent first, letting in-flight requests finish.
func (g *Gateway) Close() {
	for i := len(g.closers) - 1; i >= 0; i-- {
		g.closers[i]()
	}
	g.closers = nil
}

// handle runs one request through the filter, then answers it or
// forwards it to its service's upstream.
func (g *Gateway) handle(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	req := wasmhost.Request{Method: r.Method, Authority: r.Host, Path: r.RequestURI}
	dropHopByHop(r.Header)
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			req.Headers = append(req.Headers, [2]string{strings.ToLower(k), v})
		}
	}
	vm := <-g.vms
	res, err := vm.Do(r.Context(), req)
	logs := vm.Logs() // the filter's lines for this request (denials, shadowed denials)
	g.vms <- vm
	if g.access != nil {
		for _, l := range logs {
			fmt.Fprintf(g.access, "  filter: %s\n", l.Message)
		}
	}
	status, decision := 0, "allow"
	defer func() {
		if g.access != nil {
			fmt.Fprintf(g.access, "%s %s %s %s %d %s %s\n", start.Format(time.RFC3339), r.Method, r.Host, r.RequestURI, status, decision, time.Since(start).Round(time.Microsecond))
		}
	}()
	if err != nil {
		g.log.Error("filter fault", "err", err)
		status, decision = 500, "filter_fault"
		http.Error(w, `{"code":500,"success":false,"data":"","msg":"Internal Server Error"}`, 500)
		return
	}
	if lr := res.Response; lr != nil {
		for _, kv := range lr.Headers {
			w.Header().Add(kv[0], kv[1])
		}
		status, decision = lr.Status, strings.TrimPrefix(lr.Details, "keycard_")
		w.WriteHeader(lr.Status)
		w.Write(lr.Body)
		return
	}
	// The filter changed the request headers: forward exactly those.
	r.Header = http.Header{}
	for _, kv := range res.Headers {
		if !strings.HasPrefix(kv[0], ":") {
			r.Header.Add(kv[0], kv[1])
		}
	}
	// Route on the filter's reading of the request, and send the
	// upstream that reading: the raw path (/b/../a/) could name another
	// service than the one the filter decided on.
	host, err := httppath.Host(r.Host)
	if err == nil {
		var path string
		if path, err = httppath.Path(r.RequestURI, g.pathOpts); err == nil {
			r.URL.Path, r.URL.RawPath = path, ""
		}
	}
	if err != nil {
		status, decision = 400, "bad_request"
		http.Error(w, `{"code":400,"success":false,"data":"","msg":"Bad Request"}`, 400)
		return
	}
	m := g.Result.Table.Lookup(host, r.Method, r.URL.Path)
	if m.Service < 0 {
		status, decision = 404, "no_upstream"
		http.Error(w, `{"code":404,"success":false,"data":"","msg":"Not Found"}`, 404)
		return
	}
	rec := &statusRecorder{ResponseWriter: w, status: 200}
	g.upstream[g.Result.Table.ServiceName(m.Service)].ServeHTTP(rec, r)
	status = rec.status
}

// dropHopByHop takes away what a proxy consumes on receipt (RFC 9110
// 7.6.1): Connection, the headers it names, and the standard hop-by-hop
// headers. Done before the filter runs, as Envoy and nginx do, so that a
// client's "Connection: close, X-Auth-Level" cannot make the proxy drop
// the identity header the filter set afterwards.
func dropHopByHop(h http.Header) {
	for _, v := range h.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		h.Del(name)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// demoUpstream answers like seed 000's Flask services: which service
// answered and the headers it received (so the identity headers show).
func demoUpstream(service string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers := map[string]string{}
		for k, v := range r.Header {
			headers[k] = strings.Join(v, ", ")
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"success": true,
			"msg":     service + " " + r.Method + " " + r.URL.Path,
			"data":    map[string]any{"header": headers},
		})
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
