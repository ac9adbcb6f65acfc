package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"google.golang.org/protobuf/encoding/protojson"
	_ "google.golang.org/protobuf/types/known/wrapperspb"
	"gopkg.in/yaml.v3"
)

func example(t *testing.T) *compiler.Result {
	t.Helper()
	t.Setenv("KEYCARD_DEMO_SECRET", "keycard-demo-secret-not-for-production")
	res, err := compiler.CompileFiles([]string{filepath.Join("..", "..", "policies")}, compiler.Settings{Gateway: config.GatewayKong})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func yamlToJSON(t *testing.T, data []byte) []byte {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEnvoyValidates parses the rendered bootstrap into Envoy's own API
// types and runs their validation.
func TestEnvoyValidates(t *testing.T) {
	files, err := Envoy(example(t), Options{Sidecar: "127.0.0.1:8181", Upstreams: map[string]string{"service_a": "10.0.0.5:5000"}})
	if err != nil {
		t.Fatal(err)
	}
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(yamlToJSON(t, files["envoy.yaml"]), &b); err != nil {
		t.Fatalf("not an Envoy bootstrap: %v", err)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatalf("ValidateAll: %v", err)
	}
	text := string(files["envoy.yaml"])
	for _, want := range []string{"envoy.filters.http.wasm", "fail_open: false", "name: keycard_sidecar", "address: 10.0.0.5", "envoy.filters.http.router",
		"normalize_path: true", "merge_slashes: true", "path_with_escaped_slashes_action: REJECT_REQUEST", "headers_with_underscores_action: REJECT_REQUEST",
		"runtime: envoy.wasm.runtime.v8", "max_request_headers_kb: 60"} {
		if !strings.Contains(text, want) {
			t.Errorf("envoy.yaml lacks %q", want)
		}
	}
	if i, j := strings.Index(text, "envoy.filters.http.wasm"), strings.Index(text, "envoy.filters.http.router"); i > j {
		t.Error("the router runs before the filter")
	}
	// Broken: Envoy's validation must catch it.
	broken := bytes.Replace(yamlToJSON(t, files["envoy.yaml"]), []byte(`"port_value":8181`), []byte(`"port_value":70000`), 1)
	if err := protojson.Unmarshal(broken, &b); err == nil && b.ValidateAll() == nil {
		t.Error("a port of 70000 validated")
	}
}

// TestEnvoyRuntime: V8 unless --runtime names another engine Envoy has.
func TestEnvoyRuntime(t *testing.T) {
	files, err := Envoy(example(t), Options{Sidecar: "127.0.0.1:8181", Runtime: "wamr"})
	if err != nil || !strings.Contains(string(files["envoy.yaml"]), "runtime: envoy.wasm.runtime.wamr") {
		t.Errorf("--runtime wamr: %v", err)
	}
	_, err = Envoy(example(t), Options{Sidecar: "127.0.0.1:8181", Runtime: "wasmer"})
	var usage *UsageError
	if !errors.As(err, &usage) || err.Error() != `--runtime "wasmer": Envoy runs Wasm on v8, wamr, wasmtime` {
		t.Errorf("--runtime wasmer: %v", err)
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(ConfigSchema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource("keycard.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("keycard.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestKong(t *testing.T) {
	res := example(t)
	if _, err := Kong(res, Options{Sidecar: "keycard-sidecar:8181"}); err == nil || !strings.Contains(err.Error(), "is a host name: give --resolver ADDR") {
		t.Errorf("a host-name sidecar without a resolver: %v", err)
	}
	if files, err := Kong(res, Options{Sidecar: "10.0.0.7:8181"}); err != nil || strings.Contains(string(files["kong.conf"]), "resolver") {
		t.Errorf("an address sidecar needs no resolver: %v\n%s", err, files["kong.conf"])
	}
	files, err := Kong(res, Options{Sidecar: "keycard-sidecar:8181", Resolver: "10.96.0.10"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(files["kong.conf"]), "nginx_wasm_resolver = 10.96.0.10 ipv6=off\n") {
		t.Errorf("kong.conf:\n%s", files["kong.conf"])
	}
	var meta struct {
		ConfigSchema map[string]any `json:"config_schema"`
	}
	if err := json.Unmarshal(files["keycard.meta.json"], &meta); err != nil || meta.ConfigSchema["$schema"] != "http://json-schema.org/draft-04/schema#" {
		t.Fatalf("meta.json: %v %v", err, meta.ConfigSchema["$schema"])
	}
	decl := kongDeclaration(t, files)
	if decl.Format != "3.0" || len(decl.Services) != 2 || len(decl.Chains) != 2 {
		t.Fatalf("declarative config: %+v", decl)
	}
	schema := compileSchema(t)
	for _, c := range decl.Chains {
		if c.Filters[0].Name != "keycard" {
			t.Errorf("filter %q", c.Filters[0].Name)
		}
		if err := schema.Validate(c.Filters[0].Config); err != nil {
			t.Errorf("the %s chain's config fails the schema: %v", c.Service, err)
		}
		if up := c.Filters[0].Config["sidecar"].(map[string]any)["upstream"]; up != "keycard-sidecar:8181" {
			t.Errorf("sidecar upstream %v: Kong wants host:port", up)
		}
	}
	if !strings.Contains(string(files["kong.conf"]), "wasm = on") {
		t.Error("kong.conf lacks wasm = on")
	}
	old, err := Kong(res, Options{Sidecar: "keycard-sidecar:8181", Resolver: "10.96.0.10", KongVersion: "3.4"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(old["kong.yaml"]), `config: '{"version":1`) {
		t.Error("Kong 3.4 needs the configuration as a string")
	}
	if _, err := Kong(res, Options{Sidecar: "x:1", KongVersion: "3.11"}); err == nil || err.Error() != "Kong 3.11: Wasm filters exist in Kong 3.4 to 3.10" {
		t.Errorf("3.11: %v", err)
	}
	if _, err := Kong(res, Options{Sidecar: "nohost"}); err == nil {
		t.Error("a sidecar without port accepted")
	}
}

// TestConfigSchema: every configuration the compiler writes validates
// against the schema Kong is given, and broken ones do not.
func TestConfigSchema(t *testing.T) {
	schema := compileSchema(t)
	res := example(t)
	var configs []*config.Config
	configs = append(configs, res.Config)
	bench, err := compiler.CompileFiles([]string{filepath.Join("..", "..", "testdata", "bench", "policy.yaml")}, compiler.Settings{SidecarUp: "10.0.0.1:8181", Gateway: config.GatewayEnvoy})
	if err != nil {
		t.Fatal(err)
	}
	configs = append(configs, bench.Config)
	// Every optional field the compiler can write, set at once.
	var full config.Config
	data, _ := json.Marshal(res.Config)
	json.Unmarshal(data, &full)
	is := &full.Identity.Issuers[0]
	is.TokenType, is.Claims = "at+jwt", &config.Claims{Level: "attrs.level", Roles: "realm_access.roles", Scopes: "scp"}
	is.Issuers = []string{"https://login.microsoftonline.com/t-one/v2.0"}
	is.LevelsFrom = &config.LevelsFrom{Source: config.LevelsFromRoles, Values: map[string]int{"admin": 2}}
	for i := range full.Identity.Issuers {
		if r := full.Identity.Issuers[i].Remote; r != nil {
			r.Secret, r.SecretEncoding = "LOGIN", config.SecretBase64
		}
	}
	full.Identity.Claims.Scopes = "scope"
	full.Identity.Forward = append(full.Identity.Forward, config.Forward{Header: "X-Auth-Tenant", Field: config.FieldClaim, Claim: "tenant_id"})
	full.Scopes = append(full.Scopes, config.Scopes{Service: "service_a", Line: 3, Route: "/x", All: []string{"a:read"}, Any: []string{"b", "c"}},
		config.Scopes{Role: "billing", Line: 4, Route: "DELETE /x", All: []string{"x:write"}})
	full.Conditions = append(full.Conditions, config.Condition{Service: "service_a", Claim: "org", OneOf: []string{"eu"}},
		config.Condition{Service: "service_a", Line: 3, Claim: "groups", Contains: "admins"}, config.Condition{Service: "service_a", Line: 3, Claim: "tenant_id", Param: "tenant", Segment: 1})
	configs = append(configs, &full)
	for i, c := range configs {
		data, _ := json.Marshal(c)
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(v); err != nil {
			t.Errorf("config %d: %v", i, err)
		}
	}
	good, _ := json.Marshal(res.Config)
	for name, broken := range map[string]string{
		"unknown field":   strings.Replace(string(good), `"version":1`, `"version":1,"extra":true`, 1),
		"bad state":       strings.Replace(string(good), `"state":"sidecar"`, `"state":"maybe"`, 1),
		"bad algorithm":   strings.Replace(string(good), `"HS256"`, `"none"`, 1),
		"not a table":     strings.Replace(string(good), `"table":"S0NEV`, `"table":"AAAA`, 1),
		"missing claims":  strings.Replace(string(good), `"claims":`, `"claimz":`, 1),
		"negative leeway": strings.Replace(string(good), `"leeway_seconds":30`, `"leeway_seconds":-3`, 1),
		"no gateway":      strings.Replace(string(good), `"gateway":"kong",`, ``, 1),
		"other gateway":   strings.Replace(string(good), `"gateway":"kong"`, `"gateway":"nginx"`, 1),
	} {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(broken))
		if err != nil {
			t.Fatal(err)
		}
		if schema.Validate(v) == nil {
			t.Errorf("%s: the schema accepted it", name)
		}
	}
}

// TestDefaulted: the services no --upstream names are listed with the
// address they are rendered with.
func TestDefaulted(t *testing.T) {
	res := example(t)
	o := Options{Upstreams: map[string]string{"service_a": "10.0.0.5:5000"}}
	if got := o.Defaulted(res); len(got) != 1 || got[0] != "service_b -> service-b:80" {
		t.Errorf("Defaulted = %v", got)
	}
}

// TestKongPlugins: for Kong 3.9+ the filter can be attached as a plugin
// entity per service; its config passes the schema Kong gets from
// keycard.meta.json, and older Kong versions are refused.
func TestKongPlugins(t *testing.T) {
	res := example(t)
	files, err := Kong(res, Options{Sidecar: "10.0.0.7:8181", Plugins: true})
	if err != nil {
		t.Fatal(err)
	}
	var decl struct {
		Chains  []any `yaml:"filter_chains"`
		Plugins []struct {
			Name    string         `yaml:"name"`
			Service string         `yaml:"service"`
			Enabled bool           `yaml:"enabled"`
			Config  map[string]any `yaml:"config"`
		} `yaml:"plugins"`
	}
	if err := yaml.Unmarshal(files["kong.yaml"], &decl); err != nil {
		t.Fatal(err)
	}
	if len(decl.Chains) != 0 || len(decl.Plugins) != 2 {
		t.Fatalf("kong.yaml:\n%s", files["kong.yaml"])
	}
	schema := compileSchema(t)
	for _, p := range decl.Plugins {
		if p.Name != "keycard" || !p.Enabled || p.Service == "" {
			t.Errorf("plugin %+v", p)
		}
		if err := schema.Validate(p.Config); err != nil {
			t.Errorf("the %s plugin's config fails the schema: %v", p.Service, err)
		}
	}
	if _, err := Kong(res, Options{Sidecar: "10.0.0.7:8181", Plugins: true, KongVersion: "3.8"}); err == nil || err.Error() != "--plugins: Kong attaches Wasm filters as plugins from 3.9; 3.8 needs filter_chains" {
		t.Errorf("3.8: %v", err)
	}
}
