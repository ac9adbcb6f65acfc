package manifests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// TestSidecarManifests decodes every document of the sidecar's manifests
// strictly (an unknown or misspelt field is an error) into its
// Kubernetes type, and checks what the Deployment must have.
func TestSidecarManifests(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "kubernetes", "keycard-sidecar.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	var deploy appsv1.Deployment
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var meta struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		var obj any
		switch meta.Kind {
		case "Namespace":
			obj = &corev1.Namespace{}
		case "Deployment":
			obj = &deploy
		case "Service":
			obj = &corev1.Service{}
		case "PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		case "NetworkPolicy":
			obj = &networkingv1.NetworkPolicy{}
		default:
			t.Fatalf("unexpected kind %q", meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Errorf("%s: %v", meta.Kind, err)
		}
		kinds[meta.Kind]++
	}
	for _, k := range []string{"Namespace", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"} {
		if kinds[k] != 1 {
			t.Errorf("%d %s", kinds[k], k)
		}
	}
	spec := deploy.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("probes: readiness on /readyz, liveness on /healthz")
	}
	secrets := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			secrets[e.Name] = e.ValueFrom.SecretKeyRef.Key
		}
		if e.Value != "" && strings.Contains(e.Name, "KEY") {
			t.Errorf("%s is given in the manifest, not from a Secret", e.Name)
		}
	}
	for _, name := range []string{"KEYCARD_REDIS_URL", "KEYCARD_ADMIN_KEY", "KEYCARD_GATEWAY_KEY"} {
		if secrets[name] == "" {
			t.Errorf("%s does not come from a Secret", name)
		}
	}
	sc := spec.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("the sidecar must run as non-root with a read-only root filesystem")
	}
	if deploy.Spec.Template.Annotations["prometheus.io/scrape"] != "true" {
		t.Error("no Prometheus scrape annotations")
	}
	if len(c.Args) == 0 || c.Args[0] != "sidecar" {
		t.Errorf("args %v", c.Args)
	}
}
