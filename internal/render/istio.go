package render

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/keycard-gw/keycard/compiler"
	"gopkg.in/yaml.v3"
)

// IstioOptions are what render istio needs beyond Options: where Istio
// pulls the module from, and which workloads run it.
type IstioOptions struct {
	Image     string            // oci://REGISTRY/REPO:TAG or https://…/keycard.wasm
	Sha256    string            // the module's sha256 (required for https)
	Namespace string            // where the WasmPlugin lives (the gateway's namespace)
	Selector  map[string]string // the workloads' labels
}

// Istio renders a WasmPlugin that runs the filter in the AUTHN phase of
// the selected Envoys, failing closed, with the filter configuration as
// its pluginConfig. Istio names the Envoy cluster of an in-mesh Service
// outbound|PORT||HOST, which is the sidecar's upstream here: the
// sidecar is a Kubernetes Service in the mesh (--sidecar
// keycard-sidecar.keycard.svc.cluster.local:8181), and no ServiceEntry
// is needed. Istio's RequestAuthentication is not used: the filter
// verifies tokens itself.
func Istio(res *compiler.Result, o Options, io IstioOptions) (Files, error) {
	host, port, err := splitHostPort(o.Sidecar)
	if err != nil {
		return nil, fmt.Errorf("--sidecar: %v", err)
	}
	if !strings.Contains(host, ".") {
		return nil, fmt.Errorf("--sidecar %s: give the sidecar Service's full name (keycard-sidecar.NAMESPACE.svc.cluster.local:PORT): Istio names its cluster after it", o.Sidecar)
	}
	if err := checkModuleSource(io.Image, io.Sha256, "Istio"); err != nil {
		return nil, err
	}
	if len(io.Selector) == 0 {
		return nil, fmt.Errorf("--selector: name the gateway workloads' labels (e.g. istio=ingressgateway)")
	}
	// Istio's proxies are Envoy; it names an in-mesh Service's cluster
	// outbound|PORT||HOST.
	upstream := fmt.Sprintf("outbound|%d||%s", port, host)
	conf, pluginConfig, err := envoyConfig(res, o, upstream)
	if err != nil {
		return nil, err
	}
	ns := io.Namespace
	if ns == "" {
		ns = "istio-system"
	}
	labels := map[string]any{}
	keys := make([]string, 0, len(io.Selector))
	for k := range io.Selector {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		labels[k] = io.Selector[k]
	}
	spec := map[string]any{
		"selector":        map[string]any{"matchLabels": labels},
		"url":             io.Image,
		"imagePullPolicy": "IfNotPresent",
		"phase":           "AUTHN",
		"failStrategy":    "FAIL_CLOSE",
		"pluginName":      "keycard",
		"pluginConfig":    pluginConfig,
	}
	if io.Sha256 != "" {
		spec["sha256"] = io.Sha256
	}
	doc := map[string]any{
		"apiVersion": "extensions.istio.io/v1alpha1",
		"kind":       "WasmPlugin",
		"metadata":   map[string]any{"name": "keycard-" + res.Config.Policy, "namespace": ns},
		"spec":       spec,
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Istio WasmPlugin for policy %s, rendered by keycard: the filter in the AUTHN phase, failing closed.\n", res.Config.Policy)
	fmt.Fprintf(&buf, "# The sidecar is the in-mesh Service %s (Istio's cluster %s).\n", o.Sidecar, upstream)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return Files{"istio.yaml": buf.Bytes(), "keycard.json": conf}, nil
}

// checkModuleSource checks where a Kubernetes gateway pulls the module
// from: an OCI image, or an https URL with the sha256 the platform
// checks the download against.
func checkModuleSource(image, sum, platform string) error {
	switch {
	case strings.HasPrefix(image, "oci://"):
	case strings.HasPrefix(image, "https://"):
		if sum == "" {
			return fmt.Errorf("--image %s: an https module needs --sha256 (%s checks it)", image, platform)
		}
	default:
		return usagef("--image %q: oci://REGISTRY/REPO:TAG or https://…", image)
	}
	if sum != "" && (len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "") {
		return fmt.Errorf("--sha256 %q: 64 lower-case hex digits", sum)
	}
	return nil
}
