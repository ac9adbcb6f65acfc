package render

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"gopkg.in/yaml.v3"
	extensions "istio.io/api/extensions/v1alpha1"
)

// TestIstioValidates decodes the rendered WasmPlugin's spec strictly
// into Istio's own API type (unknown fields and bad enum values are
// errors), and its pluginConfig against the filter's schema.
func TestIstioValidates(t *testing.T) {
	res := example(t)
	files, err := Istio(res, Options{Sidecar: "keycard-sidecar.keycard.svc.cluster.local:8181"},
		IstioOptions{Image: "oci://registry.example.com/keycard/filter:v1", Namespace: "istio-ingress", Selector: map[string]string{"istio": "ingressgateway"}})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		APIVersion string         `yaml:"apiVersion"`
		Kind       string         `yaml:"kind"`
		Metadata   map[string]any `yaml:"metadata"`
		Spec       map[string]any `yaml:"spec"`
	}
	if err := yaml.Unmarshal(files["istio.yaml"], &doc); err != nil {
		t.Fatal(err)
	}
	if doc.APIVersion != "extensions.istio.io/v1alpha1" || doc.Kind != "WasmPlugin" || doc.Metadata["namespace"] != "istio-ingress" {
		t.Fatalf("%+v", doc)
	}
	spec, err := json.Marshal(doc.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var wp extensions.WasmPlugin
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(spec, &wp); err != nil {
		t.Fatalf("Istio's WasmPlugin type refuses the spec: %v", err)
	}
	if wp.GetPhase() != extensions.PluginPhase_AUTHN || wp.GetFailStrategy() != extensions.FailStrategy_FAIL_CLOSE || wp.GetUrl() != "oci://registry.example.com/keycard/filter:v1" || wp.GetSelector().GetMatchLabels()["istio"] != "ingressgateway" {
		t.Errorf("WasmPlugin %v", &wp)
	}
	schema := compileSchema(t)
	if err := schema.Validate(doc.Spec["pluginConfig"]); err != nil {
		t.Errorf("pluginConfig fails the filter's schema: %v", err)
	}
	if up := doc.Spec["pluginConfig"].(map[string]any)["sidecar"].(map[string]any)["upstream"]; up != "outbound|8181||keycard-sidecar.keycard.svc.cluster.local" {
		t.Errorf("sidecar upstream %v: not Istio's cluster name", up)
	}
	// A broken spec is refused by the same check, so the check can fail.
	broken := strings.Replace(string(spec), `"FAIL_CLOSE"`, `"FAIL_CLOSED"`, 1)
	if err := protojson.Unmarshal([]byte(broken), &extensions.WasmPlugin{}); err == nil {
		t.Error("a misspelt failStrategy passed Istio's type")
	}

	for _, tc := range []struct {
		name string
		o    Options
		io   IstioOptions
		want string
	}{
		{"https without sha256", Options{Sidecar: "s.ns.svc.cluster.local:8181"}, IstioOptions{Image: "https://x.example/keycard.wasm", Selector: map[string]string{"a": "b"}}, "--image https://x.example/keycard.wasm: an https module needs --sha256 (Istio checks it)"},
		{"a short sidecar name", Options{Sidecar: "keycard-sidecar:8181"}, IstioOptions{Image: "oci://r/k:v", Selector: map[string]string{"a": "b"}}, "--sidecar keycard-sidecar:8181: give the sidecar Service's full name (keycard-sidecar.NAMESPACE.svc.cluster.local:PORT): Istio names its cluster after it"},
		{"no selector", Options{Sidecar: "s.ns.svc.cluster.local:8181"}, IstioOptions{Image: "oci://r/k:v"}, "--selector: name the gateway workloads' labels (e.g. istio=ingressgateway)"},
	} {
		if _, err := Istio(res, tc.o, tc.io); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
