package render

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/keycard-gw/keycard/compiler"
	"gopkg.in/yaml.v3"
)

// EnvoyGatewayOptions are what render envoy-gateway needs beyond
// Options.
type EnvoyGatewayOptions struct {
	Image     string // oci://… (Image source) or https://… (HTTP source, with Sha256)
	Sha256    string
	Namespace string // the Gateway's namespace
	Gateway   string // the Gateway's name
}

// EnvoyGateway renders an EnvoyExtensionPolicy that runs the filter on a
// Gateway, failing closed, and an EnvoyPatchPolicy that adds the
// keycard_sidecar cluster the filter dispatches to: Envoy Gateway gives a
// Wasm extension no cluster of its own to call, so the patch names the
// sidecar Service (the Gateway's EnvoyPatchPolicy support must be on:
// extensionApis.enableEnvoyPatchPolicy).
func EnvoyGateway(res *compiler.Result, o Options, eg EnvoyGatewayOptions) (Files, error) {
	host, port, err := splitHostPort(o.Sidecar)
	if err != nil {
		return nil, fmt.Errorf("--sidecar: %v", err)
	}
	if err := checkModuleSource(eg.Image, eg.Sha256, "Envoy Gateway"); err != nil {
		return nil, err
	}
	code := map[string]any{}
	if url, ok := strings.CutPrefix(eg.Image, "oci://"); ok {
		img := map[string]any{"url": url}
		if eg.Sha256 != "" {
			img["sha256"] = eg.Sha256
		}
		code["type"], code["image"] = "Image", img
	} else {
		code["type"], code["http"] = "HTTP", map[string]any{"url": eg.Image, "sha256": eg.Sha256}
	}
	if eg.Gateway == "" {
		return nil, fmt.Errorf("--gateway-name: name the Gateway the filter runs on")
	}
	conf, pluginConfig, err := envoyConfig(res, o, "keycard_sidecar")
	if err != nil {
		return nil, err
	}
	ns := eg.Namespace
	if ns == "" {
		ns = "default"
	}
	target := map[string]any{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": eg.Gateway}
	ext := map[string]any{
		"apiVersion": "gateway.envoyproxy.io/v1alpha1",
		"kind":       "EnvoyExtensionPolicy",
		"metadata":   map[string]any{"name": "keycard-" + res.Config.Policy, "namespace": ns},
		"spec": map[string]any{
			"targetRefs": []any{target},
			"wasm": []any{map[string]any{
				"name":     "keycard",
				"rootID":   "keycard",
				"code":     code,
				"config":   pluginConfig,
				"failOpen": false,
			}},
		},
	}
	patch := map[string]any{
		"apiVersion": "gateway.envoyproxy.io/v1alpha1",
		"kind":       "EnvoyPatchPolicy",
		"metadata":   map[string]any{"name": "keycard-sidecar-cluster", "namespace": ns},
		"spec": map[string]any{
			"targetRef": target,
			"type":      "JSONPatch",
			"jsonPatches": []any{map[string]any{
				"type":      "type.googleapis.com/envoy.config.cluster.v3.Cluster",
				"name":      "keycard_sidecar",
				"operation": map[string]any{"op": "add", "path": "", "value": cluster("keycard_sidecar", host, port, "0.25s")},
			}},
		},
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Envoy Gateway policies for policy %s, rendered by keycard: the filter on Gateway %s/%s, failing closed,\n", res.Config.Policy, ns, eg.Gateway)
	buf.WriteString("# and the keycard_sidecar cluster it calls (needs extensionApis.enableEnvoyPatchPolicy in Envoy Gateway's configuration).\n")
	for i, doc := range []any{ext, patch} {
		if i > 0 {
			buf.WriteString("---\n")
		}
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(doc); err != nil {
			return nil, err
		}
	}
	return Files{"envoy-gateway.yaml": buf.Bytes(), "keycard.json": conf}, nil
}
