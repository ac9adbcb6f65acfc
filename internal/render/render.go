// Package render writes what an operator needs to run a compiled policy
// in Kong (3.4-3.10), Envoy (1.33+), Istio (a WasmPlugin) or Envoy
// Gateway (an EnvoyExtensionPolicy with the sidecar's cluster): the
// filter's configuration, the gateway's, and for Kong the filter's
// configuration schema. docs/deploy.md walks through each.
package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"gopkg.in/yaml.v3"
)

// Options are the deployment facts the policy does not hold.
type Options struct {
	Sidecar   string            // host:port of keycard sidecar
	Upstreams map[string]string // service name -> host:port (default: the service name, port 80)
	WasmPath  string            // where the gateway finds keycard.wasm
	Resolver  string            // Kong: the DNS server ngx_wasm_module resolves a host-name sidecar with
	Plugins   bool              // Kong 3.9+: attach the filter through plugin entities instead of filter_chains
	Listen    int               // Envoy listener port (default 8000)
	Runtime   string            // Envoy's Wasm engine: v8 (default), wamr or wasmtime (Runtimes)
	// KongVersion is "3.4" .. "3.10": 3.4 takes the configuration as a
	// string, and metrics need 3.8.
	KongVersion string
}

// Runtimes are the Wasm engines Envoy can run the filter on. V8 is
// Envoy's default and the one Keycard is tested on first; WAMR and
// Wasmtime are build options of Envoy. WAMR before 2.3.0 keeps a stale
// memory size after a host call that grew memory, and a Go filter traps
// after a few thousand requests (docs/hosts.md).
var Runtimes = []string{"v8", "wamr", "wasmtime"}

// Files is what a renderer writes: file name -> content.
type Files map[string][]byte

func splitHostPort(hp string) (string, int, error) {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port: %v", hp, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 || host == "" {
		return "", 0, fmt.Errorf("%q is not host:port", hp)
	}
	return host, p, nil
}

// checkUpstreams refuses an --upstream for a service the policy does
// not have: a typo would otherwise leave the real service on its default
// address without a word.
func (o *Options) checkUpstreams(res *compiler.Result) error {
	var names []string
	for _, s := range res.Policy.Services {
		names = append(names, s.Name)
	}
	for svc := range o.Upstreams {
		if !slices.Contains(names, svc) {
			return fmt.Errorf("--upstream %s: the policy has no such service (it has %s)", svc, strings.Join(names, ", "))
		}
	}
	return nil
}

// Defaulted lists the services that no --upstream names, with the
// address they are rendered with, so the CLI can say so.
func (o *Options) Defaulted(res *compiler.Result) []string {
	var out []string
	for _, s := range res.Policy.Services {
		if _, ok := o.Upstreams[s.Name]; !ok {
			h, p, _ := o.upstream(s.Name)
			out = append(out, fmt.Sprintf("%s -> %s:%d", s.Name, h, p))
		}
	}
	return out
}

func (o *Options) upstream(svc string) (string, int, error) {
	if hp, ok := o.Upstreams[svc]; ok {
		return splitHostPort(hp)
	}
	return strings.ReplaceAll(svc, "_", "-"), 80, nil
}

// mounts lists a compiled policy's services with their hosts and
// prefixes, in policy order.
type mount struct{ host, prefix string }

func mounts(res *compiler.Result) map[string][]mount {
	out := map[string][]mount{}
	for _, s := range res.Policy.Services {
		for _, h := range s.Hosts {
			host, prefix, _ := strings.Cut(h.Value, "/")
			prefix = "/" + prefix
			if prefix == "/" {
				prefix = s.Prefix
			}
			out[s.Name] = append(out[s.Name], mount{strings.ToLower(host), prefix})
		}
	}
	return out
}

func configJSON(cfg *config.Config) ([]byte, error) { return json.Marshal(cfg) }

// ---- Kong ----

func kongVersion(v string) (minor int, err error) {
	if v == "" {
		v = "3.10"
	}
	major, m, ok := strings.Cut(v, ".")
	minor, err = strconv.Atoi(m)
	if !ok || major != "3" || err != nil || minor < 4 || minor > 10 {
		return 0, fmt.Errorf("Kong %s: Wasm filters exist in Kong 3.4 to 3.10", v)
	}
	return minor, nil
}

// headerBufferKB is the size, in KiB, of nginx's large header buffers
// that holds an Authorization header with a token of maxToken bytes: a
// power of two, 8 at least (nginx's default).
func headerBufferKB(maxToken int) int {
	if maxToken == 0 {
		maxToken = config.DefaultMaxTokenBytes
	}
	kb := 8
	for kb*1024 < maxToken+1024 {
		kb *= 2
	}
	return kb
}

// Kong renders keycard.meta.json, kong.conf lines and a declarative
// configuration attaching the filter to every service of the policy.
func Kong(res *compiler.Result, o Options) (Files, error) {
	minor, err := kongVersion(o.KongVersion)
	if err != nil {
		return nil, err
	}
	if o.Plugins && minor < 9 {
		return nil, fmt.Errorf("--plugins: Kong attaches Wasm filters as plugins from 3.9; 3.%d needs filter_chains", minor)
	}
	if err := o.checkUpstreams(res); err != nil {
		return nil, err
	}
	if _, _, err := splitHostPort(o.Sidecar); err != nil {
		return nil, fmt.Errorf("--sidecar: %v", err)
	}
	cfg := *res.Config
	cfg.Gateway = config.GatewayKong
	cfg.Sidecar.Upstream = o.Sidecar // Kong's dispatch_http_call takes host:port
	cfg.Sidecar.Authority = o.Sidecar
	cfg.Options.Metrics = minor >= 8
	conf, err := configJSON(&cfg)
	if err != nil {
		return nil, err
	}
	meta, err := json.MarshalIndent(map[string]any{"config_schema": json.RawMessage(ConfigSchema)}, "", "  ")
	if err != nil {
		return nil, err
	}
	wasmDir := o.WasmPath
	if wasmDir == "" {
		wasmDir = "/usr/local/kong/wasm"
	}
	// ngx_wasm_module resolves a host-name upstream of dispatch_http_call
	// with its own resolver, which has no default: a host name needs one
	// named, an address none.
	resolver := ""
	if shost, _, _ := splitHostPort(o.Sidecar); net.ParseIP(strings.Trim(shost, "[]")) == nil {
		if o.Resolver == "" {
			return nil, usagef("--sidecar %s is a host name: give --resolver ADDR, the DNS server Kong's workers reach (in Kubernetes, the cluster DNS service, e.g. 10.96.0.10), or give the sidecar as an address", o.Sidecar)
		}
		resolver = fmt.Sprintf("nginx_wasm_resolver = %s ipv6=off\n", o.Resolver)
	}
	kongConf := fmt.Sprintf(`# kong.conf lines for Keycard (Kong 3.%d)
wasm = on
wasm_filters_path = %s
# the filter's call-out to the sidecar (%s)
nginx_http_wasm_socket_connect_timeout = 1s
nginx_http_wasm_socket_read_timeout = 1s
nginx_http_wasm_socket_send_timeout = 1s
# a token of options.max_token_bytes (%d) fits one header line: nginx's
# default buffer (8k) would answer a longer one with 400 before Keycard
nginx_http_large_client_header_buffers = 4 %dk
%s`, minor, wasmDir, o.Sidecar, res.Config.Options.MaxTokenBytes, headerBufferKB(res.Config.Options.MaxTokenBytes), resolver)

	var filterConfig any
	if err := json.Unmarshal(conf, &filterConfig); err != nil {
		return nil, err
	}
	if minor < 5 {
		filterConfig = string(conf) // 3.4 takes the configuration as a string
	}
	ms := mounts(res)
	var services []map[string]any
	var chains []map[string]any
	for _, s := range res.Policy.Services {
		host, port, err := o.upstream(s.Name)
		if err != nil {
			return nil, fmt.Errorf("upstream of %s: %v", s.Name, err)
		}
		var routes []map[string]any
		for i, m := range ms[s.Name] {
			r := map[string]any{
				"name":       fmt.Sprintf("%s-%d", s.Name, i),
				"hosts":      []string{m.host},
				"strip_path": false,
			}
			if m.prefix != "/" {
				r["paths"] = kongPaths(m.prefix)
			}
			routes = append(routes, r)
		}
		services = append(services, map[string]any{
			"name": s.Name, "protocol": "http", "host": host, "port": port, "routes": routes,
		})
		if o.Plugins {
			// Kong 3.9+: a Wasm filter is a plugin named after it, whose
			// config Kong validates with the filter's meta.json schema.
			chains = append(chains, map[string]any{
				"name":    "keycard",
				"service": s.Name,
				"enabled": true,
				"config":  filterConfig,
			})
			continue
		}
		chains = append(chains, map[string]any{
			"name":    "keycard-" + s.Name,
			"service": s.Name,
			"filters": []map[string]any{{"name": "keycard", "enabled": true, "config": filterConfig}},
		})
	}
	decl := map[string]any{
		"_format_version": "3.0",
		"services":        services,
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Kong declarative configuration for policy %s, rendered by keycard.\n", res.Config.Policy)
	if o.Plugins {
		decl["plugins"] = chains
		buf.WriteString("# Kong 3.9-3.10: the Wasm filter attached as a plugin (one per service here).\n")
	} else {
		decl["filter_chains"] = chains
		buf.WriteString("# Kong 3.4-3.10 attach Wasm filters through filter_chains (one per service here).\n")
		buf.WriteString("# From 3.9 the same filter can also be attached as a plugin: keycard render kong --plugins.\n")
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(decl); err != nil {
		return nil, err
	}
	return Files{"keycard.meta.json": append(meta, '\n'), "kong.conf": []byte(kongConf), "kong.yaml": buf.Bytes(), "keycard.json": conf}, nil
}

// ---- Envoy ----

// Envoy renders an Envoy bootstrap: a listener whose HTTP connection
// manager runs the Keycard Wasm filter (fail-closed) then the router, a
// cluster for the sidecar and one per service.
func Envoy(res *compiler.Result, o Options) (Files, error) {
	shost, sport, err := splitHostPort(o.Sidecar)
	if err != nil {
		return nil, fmt.Errorf("--sidecar: %v", err)
	}
	runtime := o.Runtime
	if runtime == "" {
		runtime = "v8"
	}
	if !slices.Contains(Runtimes, runtime) {
		return nil, usagef("--runtime %q: Envoy runs Wasm on %s", o.Runtime, strings.Join(Runtimes, ", "))
	}
	if err := o.checkUpstreams(res); err != nil {
		return nil, err
	}
	conf, _, err := envoyConfig(res, o, "keycard_sidecar")
	if err != nil {
		return nil, err
	}
	wasm := o.WasmPath
	if wasm == "" {
		wasm = "/etc/envoy/keycard.wasm"
	}
	listen := o.Listen
	if listen == 0 {
		listen = 8000
	}
	// One virtual host per host name; its routes are the services'
	// prefixes, longest first, as the filter matches them.
	type route struct{ prefix, cluster string }
	byHost := map[string][]route{}
	ms := mounts(res)
	for _, s := range res.Policy.Services {
		for _, m := range ms[s.Name] {
			byHost[m.host] = append(byHost[m.host], route{m.prefix, s.Name})
		}
	}
	hosts := make([]string, 0, len(byHost))
	for h := range byHost {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	var vhosts []any
	for i, h := range hosts {
		rs := byHost[h]
		sort.SliceStable(rs, func(a, b int) bool { return len(rs[a].prefix) > len(rs[b].prefix) })
		var routes []any
		for _, r := range rs {
			routes = append(routes, map[string]any{
				"match": envoyMatch(r.prefix),
				"route": map[string]any{"cluster": r.cluster, "timeout": "15s"},
			})
		}
		vhosts = append(vhosts, map[string]any{"name": fmt.Sprintf("vhost_%d", i), "domains": []string{h, h + ":*"}, "routes": routes})
	}
	clusters := []any{cluster("keycard_sidecar", shost, sport, "0.25s")}
	for _, s := range res.Policy.Services {
		h, p, err := o.upstream(s.Name)
		if err != nil {
			return nil, fmt.Errorf("upstream of %s: %v", s.Name, err)
		}
		clusters = append(clusters, cluster(s.Name, h, p, "1s"))
	}
	bootstrap := map[string]any{
		"static_resources": map[string]any{
			"listeners": []any{map[string]any{
				"name":    "keycard_ingress",
				"address": map[string]any{"socket_address": map[string]any{"address": "0.0.0.0", "port_value": listen}},
				"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
					"name": "envoy.filters.network.http_connection_manager",
					"typed_config": map[string]any{
						"@type":       "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
						"stat_prefix": "keycard_ingress",
						// One path for Envoy, the filter and the upstream:
						// RFC 3986 normalisation and merged slashes before
						// any filter, encoded slashes refused as the filter
						// refuses them, and header names with underscores
						// (look-alikes of X-Auth-Level) refused at the edge.
						"normalize_path":                   true,
						"merge_slashes":                    true,
						"path_with_escaped_slashes_action": escapedSlashes(res.Config.Options.AllowEncodedPath),
						"common_http_protocol_options":     map[string]any{"headers_with_underscores_action": "REJECT_REQUEST"},
						// Envoy's header limit (60 KiB by default) holds a
						// token of options.max_token_bytes and the rest.
						"max_request_headers_kb": max(60, (res.Config.Options.MaxTokenBytes+4096+1023)/1024),
						"route_config": map[string]any{
							"name":          "keycard_routes",
							"virtual_hosts": vhosts,
						},
						"http_filters": []any{
							map[string]any{
								"name": "envoy.filters.http.wasm",
								"typed_config": map[string]any{
									"@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
									"config": map[string]any{
										"name":    "keycard",
										"root_id": "keycard",
										"vm_config": map[string]any{
											"vm_id":   "keycard",
											"runtime": "envoy.wasm.runtime." + runtime,
											"code":    map[string]any{"local": map[string]any{"filename": wasm}},
										},
										"configuration": map[string]any{
											"@type": "type.googleapis.com/google.protobuf.StringValue",
											"value": string(conf),
										},
										"fail_open": false,
									},
								},
							},
							map[string]any{
								"name":         "envoy.filters.http.router",
								"typed_config": map[string]any{"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
							},
						},
					},
				}}}},
			}},
			"clusters": clusters,
		},
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Envoy (1.33+) bootstrap for policy %s, rendered by keycard.\n", res.Config.Policy)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(bootstrap); err != nil {
		return nil, err
	}
	return Files{"envoy.yaml": buf.Bytes(), "keycard.json": conf}, nil
}

// escapedSlashes is Envoy's action for %2F and %5C in a path: refused,
// as the filter refuses them, unless the policy allows encoded paths.
func escapedSlashes(allowed bool) string {
	if allowed {
		return "KEEP_UNCHANGED"
	}
	return "REJECT_REQUEST"
}

// cluster is an Envoy cluster of one host:port, resolved by DNS, with
// circuit breakers sized for a gateway.
func cluster(name, host string, port int, timeout string) map[string]any {
	return map[string]any{
		"name":            name,
		"type":            "STRICT_DNS",
		"connect_timeout": timeout,
		"load_assignment": map[string]any{
			"cluster_name": name,
			"endpoints": []any{map[string]any{"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{
				"address": map[string]any{"socket_address": map[string]any{"address": host, "port_value": port}},
			}}}}},
		},
		"circuit_breakers": map[string]any{"thresholds": []any{map[string]any{
			"max_connections": 1024, "max_pending_requests": 1024, "max_requests": 4096, "max_retries": 3,
		}}},
	}
}

// envoyConfig is the filter configuration for an Envoy-based gateway
// that reaches the sidecar through the cluster upstream, as JSON and as
// the object a Kubernetes resource embeds.
func envoyConfig(res *compiler.Result, o Options, upstream string) ([]byte, map[string]any, error) {
	cfg := *res.Config
	cfg.Gateway = config.GatewayEnvoy
	cfg.Sidecar.Upstream = upstream
	cfg.Sidecar.Authority = o.Sidecar
	cfg.Options.Metrics = true
	conf, err := configJSON(&cfg)
	if err != nil {
		return nil, nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(conf, &obj); err != nil {
		return nil, nil, err
	}
	return conf, obj, nil
}

// A service's prefix holds whole segments: /a holds /a and /a/x, never
// /abc, as the filter mounts it. The gateway must route the same way, or
// a request the filter decided as one service's would reach another's
// upstream.

// kongPaths are a Kong route's paths for a prefix: the prefix with its
// slash (a plain path is a string prefix in Kong), and the bare prefix
// as a regular expression anchored at its end (Kong anchors its start).
func kongPaths(prefix string) []string {
	return []string{prefix + "/", "~" + regexp.QuoteMeta(prefix) + "$"}
}

// envoyMatch is an Envoy route match for a prefix: path_separated_prefix
// (Envoy ≥ 1.22), the prefix exactly or followed by "/".
func envoyMatch(prefix string) map[string]any {
	if prefix == "/" {
		return map[string]any{"prefix": "/"}
	}
	return map[string]any{"path_separated_prefix": prefix}
}

// UsageError is an error in what the command was given (a missing or
// malformed flag), not in rendering: the CLI exits 2 for it.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &UsageError{fmt.Sprintf(format, args...)}
}
