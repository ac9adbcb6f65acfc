package render

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/filter/httppath"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"google.golang.org/protobuf/encoding/protojson"
	"gopkg.in/yaml.v3"
)

// routingCorpus is requests around the example's mounts: prefixes with
// and without their slash, names that only start like a prefix, dot
// segments that cross from one mount into another, and the path table.
func routingCorpus() [][2]string {
	var out [][2]string
	for _, p := range []string{"/", "/a", "/a/", "/a/auth", "/abc", "/ab/auth", "/a.b", "/b", "/b/", "/bc", "/b/auth", "/b/../a/", "/a/../b/auth",
		"/a/%2e%2e/b", "/A/auth", "/a?x=1", "/ab?x=/a/", "/c", "//a/auth"} {
		out = append(out, [2]string{"api.shop.example", p})
	}
	for _, p := range tables.Paths() {
		out = append(out, [2]string{"api.shop.example", p.Target})
	}
	for _, h := range []string{"a.shop.example", "b.shop.example", "c.shop.example"} {
		out = append(out, [2]string{h, "/a/auth"}, [2]string{h, "/"})
	}
	return out
}

// decided is the service the filter decides a request as, the path it
// reads, and false when it refuses the request as malformed (400: no
// gateway route matters then).
func decided(t *testing.T, e *filter.Engine, cfg *config.Config, host, target string) (service, path string, ok bool) {
	d := e.DecideAs(&filter.Request{Method: "GET", Authority: host, Path: target, Headers: filter.HeaderList{{"host", host}}}, nil)
	if d.Status == 400 {
		return "", "", false
	}
	p, err := httppath.Path(target, filter.PathOptions(&cfg.Options))
	if err != nil {
		t.Fatalf("%s %s: decided %d %s but the path does not read: %v", host, target, d.Status, d.Reason, err)
	}
	p, _, _ = strings.Cut(p, "?")
	return d.Service, p, true
}

// TestEnvoyRoutesAsDecided: for every request of the corpus, the route
// Envoy picks from the rendered configuration (virtual host by domain,
// first route whose match takes the normalised path) is the service the
// filter decided on.
func TestEnvoyRoutesAsDecided(t *testing.T) {
	res := example(t)
	cfg := *res.Config
	cfg.Gateway = config.GatewayEnvoy
	e, err := filter.New(&cfg, res.Table, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Envoy(res, Options{Sidecar: "127.0.0.1:8181"})
	if err != nil {
		t.Fatal(err)
	}
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(yamlToJSON(t, files["envoy.yaml"]), &b); err != nil {
		t.Fatal(err)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := b.StaticResources.Listeners[0].FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	vhosts := hcm.GetRouteConfig().GetVirtualHosts()
	route := func(host, path string) string {
		for _, vh := range vhosts {
			if !slices.Contains(vh.Domains, host) {
				continue
			}
			for _, r := range vh.Routes {
				if envoyMatches(r.GetMatch(), path) {
					return r.GetRoute().GetCluster()
				}
			}
		}
		return ""
	}
	for _, req := range routingCorpus() {
		svc, path, ok := decided(t, e, &cfg, req[0], req[1])
		if !ok {
			continue
		}
		if got := route(req[0], path); got != svc {
			t.Errorf("%s %s (read as %s): Envoy routes to %q, the filter decided as %q", req[0], req[1], path, got, svc)
		}
	}
}

// envoyMatches is Envoy's RouteMatch for the kinds render writes
// (source/common/router/config_impl.cc: PrefixRouteEntryImpl,
// PathSeparatedPrefixRouteEntryImpl).
func envoyMatches(m *routev3.RouteMatch, path string) bool {
	switch {
	case m.GetPathSeparatedPrefix() != "":
		p := m.GetPathSeparatedPrefix()
		return path == p || strings.HasPrefix(path, p+"/")
	default:
		return strings.HasPrefix(path, m.GetPrefix())
	}
}

// TestKongRoutesAsDecided: the same with the rendered kong.yaml, as
// Kong's router matches paths: a plain path is a string prefix, a "~"
// path a regular expression anchored at the start; of the routes for the
// host that match, the longest path wins.
func TestKongRoutesAsDecided(t *testing.T) {
	res := example(t)
	e, err := filter.New(res.Config, res.Table, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Kong(res, Options{Sidecar: "10.0.0.7:8181"})
	if err != nil {
		t.Fatal(err)
	}
	decl := kongDeclaration(t, files)
	route := func(host, path string) string {
		best, bestLen := "", -1
		for _, s := range decl.Services {
			for _, r := range s.Routes {
				if !slices.Contains(r.Hosts, host) {
					continue
				}
				paths := r.Paths
				if len(paths) == 0 {
					paths = []string{"/"}
				}
				for _, p := range paths {
					n := -1
					if re, ok := strings.CutPrefix(p, "~"); ok {
						if regexp.MustCompile("^(?:" + re + ")").MatchString(path) {
							n = len(re)
						}
					} else if strings.HasPrefix(path, p) {
						n = len(p)
					}
					if n > bestLen {
						best, bestLen = s.Name, n
					}
				}
			}
		}
		return best
	}
	for _, req := range routingCorpus() {
		svc, path, ok := decided(t, e, res.Config, req[0], req[1])
		if !ok {
			continue
		}
		if got := route(req[0], path); got != svc {
			t.Errorf("%s %s (read as %s): Kong routes to %q, the filter decided as %q", req[0], req[1], path, got, svc)
		}
	}
}

// kongDecl is what the tests read of the rendered kong.yaml.
type kongDecl struct {
	Format   string `yaml:"_format_version"`
	Services []struct {
		Name   string `yaml:"name"`
		Routes []struct {
			Hosts []string `yaml:"hosts"`
			Paths []string `yaml:"paths"`
		} `yaml:"routes"`
	} `yaml:"services"`
	Chains []struct {
		Service string `yaml:"service"`
		Filters []struct {
			Name   string         `yaml:"name"`
			Config map[string]any `yaml:"config"`
		} `yaml:"filters"`
	} `yaml:"filter_chains"`
}

func kongDeclaration(t *testing.T, files Files) kongDecl {
	t.Helper()
	var decl kongDecl
	if err := yaml.Unmarshal(files["kong.yaml"], &decl); err != nil {
		t.Fatal(err)
	}
	return decl
}
