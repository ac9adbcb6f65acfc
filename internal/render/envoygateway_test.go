package render

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"google.golang.org/protobuf/encoding/protojson"
	"gopkg.in/yaml.v3"
)

// envoyGatewayRelease is the Envoy Gateway release whose CRD schemas the
// rendered policies are checked against.
const envoyGatewayRelease = "github.com/envoyproxy/gateway@v1.6.0"

// crdSchema compiles the openAPIV3Schema of one of Envoy Gateway's CRDs,
// taken from the release's source through the module proxy, made strict
// the way the API server's strict field validation is: an object that
// lists its properties accepts no others.
func crdSchema(t *testing.T, file string) *jsonschema.Schema {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", envoyGatewayRelease).Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", envoyGatewayRelease, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: %v %s", envoyGatewayRelease, err, mod.Error)
	}
	raw, err := os.ReadFile(filepath.Join(mod.Dir, "charts", "gateway-crds-helm", "templates", "generated", file))
	if err != nil {
		t.Fatal(err)
	}
	// The chart wraps the CRD in a Helm conditional; the CRD is the rest.
	var lines []string
	for _, l := range strings.Split(string(raw), "\n") {
		if !strings.Contains(l, "{{") {
			lines = append(lines, l)
		}
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string
				Schema struct {
					OpenAPIV3Schema map[string]any `yaml:"openAPIV3Schema"`
				}
			}
		}
	}
	if err := yaml.Unmarshal([]byte(strings.Join(lines, "\n")), &crd); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(crd.Spec.Versions) == 0 || crd.Spec.Versions[0].Name != "v1alpha1" {
		t.Fatalf("%s: no v1alpha1 schema", file)
	}
	schema := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	closeObjects(schema)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(mustJSON(t, schema)))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource(file, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(file)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return s
}

// closeObjects sets additionalProperties: false on every schema object
// that lists properties and neither keeps unknown fields nor says what
// extra properties may be.
func closeObjects(v any) {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["properties"]; ok {
			_, extra := v["additionalProperties"]
			keep, _ := v["x-kubernetes-preserve-unknown-fields"].(bool)
			if !extra && !keep {
				v["additionalProperties"] = false
			}
		}
		for _, sub := range v {
			closeObjects(sub)
		}
	case []any:
		for _, sub := range v {
			closeObjects(sub)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEnvoyGatewayValidates checks both rendered documents against
// Envoy Gateway's CRD schemas, the sidecar cluster in the patch against
// Envoy's Cluster type, and the filter configuration against its own
// schema.
func TestEnvoyGatewayValidates(t *testing.T) {
	res := example(t)
	files, err := EnvoyGateway(res, Options{Sidecar: "keycard-sidecar.keycard.svc.cluster.local:8181"},
		EnvoyGatewayOptions{Image: "oci://registry.example.com/keycard/filter:v1", Namespace: "edge", Gateway: "eg"})
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(files["envoy-gateway.yaml"]))
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			break
		}
		docs = append(docs, d)
	}
	if len(docs) != 2 || docs[0]["kind"] != "EnvoyExtensionPolicy" || docs[1]["kind"] != "EnvoyPatchPolicy" {
		t.Fatalf("want an EnvoyExtensionPolicy and an EnvoyPatchPolicy, got %d documents", len(docs))
	}
	ext := crdSchema(t, "gateway.envoyproxy.io_envoyextensionpolicies.yaml")
	patch := crdSchema(t, "gateway.envoyproxy.io_envoypatchpolicies.yaml")
	roundTrip := func(v any) any {
		var out any
		if err := json.Unmarshal(mustJSON(t, v), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if err := ext.Validate(roundTrip(docs[0])); err != nil {
		t.Errorf("EnvoyExtensionPolicy fails Envoy Gateway's schema: %v", err)
	}
	if err := patch.Validate(roundTrip(docs[1])); err != nil {
		t.Errorf("EnvoyPatchPolicy fails Envoy Gateway's schema: %v", err)
	}

	wasm := docs[0]["spec"].(map[string]any)["wasm"].([]any)[0].(map[string]any)
	if wasm["failOpen"] != false || docs[0]["metadata"].(map[string]any)["namespace"] != "edge" {
		t.Errorf("wasm %v", wasm)
	}
	if err := compileSchema(t).Validate(roundTrip(wasm["config"])); err != nil {
		t.Errorf("config fails the filter's schema: %v", err)
	}
	if up := wasm["config"].(map[string]any)["sidecar"].(map[string]any)["upstream"]; up != "keycard_sidecar" {
		t.Errorf("sidecar upstream %v", up)
	}
	op := docs[1]["spec"].(map[string]any)["jsonPatches"].([]any)[0].(map[string]any)["operation"].(map[string]any)
	var c clusterv3.Cluster
	if err := protojson.Unmarshal(mustJSON(t, op["value"]), &c); err != nil {
		t.Fatalf("the patch's cluster is not an Envoy Cluster: %v", err)
	}
	if err := c.ValidateAll(); err != nil || c.GetName() != "keycard_sidecar" {
		t.Errorf("cluster %s: %v", c.GetName(), err)
	}

	// The schemas can fail: a misspelt field and a bad code type are refused.
	bad := roundTrip(docs[0]).(map[string]any)
	bad["spec"].(map[string]any)["wasm"].([]any)[0].(map[string]any)["failOpn"] = false
	if ext.Validate(bad) == nil {
		t.Error("a misspelt wasm field passed the schema")
	}
	bad = roundTrip(docs[0]).(map[string]any)
	bad["spec"].(map[string]any)["wasm"].([]any)[0].(map[string]any)["code"].(map[string]any)["type"] = "Docker"
	if ext.Validate(bad) == nil {
		t.Error("code type Docker passed the schema")
	}

	https, err := EnvoyGateway(res, Options{Sidecar: "10.0.0.9:8181"}, EnvoyGatewayOptions{Image: "https://modules.example.com/keycard.wasm", Sha256: strings.Repeat("ab", 32), Gateway: "eg"})
	if err != nil {
		t.Fatal(err)
	}
	var first map[string]any
	if err := yaml.Unmarshal(bytes.SplitN(https["envoy-gateway.yaml"], []byte("\n---\n"), 2)[0], &first); err != nil {
		t.Fatal(err)
	}
	if err := ext.Validate(roundTrip(first)); err != nil {
		t.Errorf("an HTTP-sourced EnvoyExtensionPolicy fails the schema: %v", err)
	}

	for _, tc := range []struct {
		name string
		eg   EnvoyGatewayOptions
		want string
	}{
		{"https without sha256", EnvoyGatewayOptions{Image: "https://x.example/keycard.wasm", Gateway: "eg"}, "--image https://x.example/keycard.wasm: an https module needs --sha256 (Envoy Gateway checks it)"},
		{"a file image", EnvoyGatewayOptions{Image: "/tmp/keycard.wasm", Gateway: "eg"}, `--image "/tmp/keycard.wasm": oci://REGISTRY/REPO:TAG or https://…`},
		{"no gateway", EnvoyGatewayOptions{Image: "oci://r/k:v"}, "--gateway-name: name the Gateway the filter runs on"},
	} {
		if _, err := EnvoyGateway(res, Options{Sidecar: "s:8181"}, tc.eg); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
