package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestPipelineScript runs examples/ci/keycard-policy.sh, the script the
// example GitHub Actions and GitLab CI files call, on a pull request
// that opens a route: every artifact is written with its checksum,
// the diff names the change, and a broken policy fails the run.
func TestPipelineScript(t *testing.T) {
	for _, tool := range []string{"bash", "git", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip("no " + tool)
		}
	}
	for _, f := range []string{"github-actions.yml", "gitlab-ci.yml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "examples", "ci", f))
		var doc map[string]any
		if err != nil || yaml.Unmarshal(data, &doc) != nil || !strings.Contains(string(data), "bash examples/ci/keycard-policy.sh") {
			t.Errorf("%s does not parse or does not call the script: %v", f, err)
		}
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "keycard")
	build := exec.Command("go", "build", "-o", bin, "./cmd/keycard")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	module := filepath.Join(tmp, "module.wasm")
	if err := os.WriteFile(module, keycardStandIn(), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(tmp, "repo")
	if err := os.CopyFS(filepath.Join(repo, "policies"), os.DirFS(filepath.Join("..", "..", "policies"))); err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs(filepath.Join("..", "..", "examples", "ci", "keycard-policy.sh"))
	git := gitIn(t, repo)
	git("init", "-q", "-b", "main")
	git("add", ".")
	git("commit", "-qm", "base")
	git("checkout", "-qb", "tighten")
	svc := filepath.Join(repo, "policies", "services.yaml")
	src, _ := os.ReadFile(svc)
	os.WriteFile(svc, []byte(strings.Replace(string(src), "      - {path: /auth, access: user}\n", "      - {path: /auth, access: user}\n      - {path: /reports, access: admin}\n", 1)), 0o644)
	// the cases reach ../testdata for the partner's private key
	if err := os.CopyFS(filepath.Join(repo, "testdata", "keys"), os.DirFS(filepath.Join("..", "..", "testdata", "keys"))); err != nil {
		t.Fatal(err)
	}
	git("add", ".")
	git("commit", "-qm", "open /reports to admins")

	run := func() (string, error) {
		cmd := exec.Command("bash", script)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "KEYCARD="+bin, "KEYCARD_SIDECAR=10.0.0.7:8181", "KEYCARD_TARGET_REF=main",
			"KEYCARD_WASM="+module, "KEYCARD_DEMO_SECRET="+demoSecret, "KEYCARD_GATEWAY_KEY="+testGatewayKey, "GITHUB_ACTIONS=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run()
	if err != nil {
		t.Fatalf("the pipeline failed: %v\n%s", err, out)
	}
	art := filepath.Join(repo, "keycard-out")
	for _, f := range []string{"policy-tests.xml", "policy-diff.md", "policy.kct", "keycard.kong.json", "keycard.envoy.json", "kong/kong.yaml", "kong/keycard.wasm", "envoy/envoy.yaml", "SHA256SUMS"} {
		if _, err := os.Stat(filepath.Join(art, f)); err != nil {
			t.Errorf("no %s: %v", f, err)
		}
	}
	if diff, _ := os.ReadFile(filepath.Join(art, "policy-diff.md")); !strings.Contains(string(diff), "| service_a | `/reports (new match; before: no route)` | any method | a.shop.example, api.shop.example | level 2, any roles | 403 no_route | **allow (ok)** |") {
		t.Errorf("the diff does not show the new route:\n%s", diff)
	}
	verify := exec.Command("sha256sum", "-c", "SHA256SUMS")
	verify.Dir = art
	if out, err := verify.CombinedOutput(); err != nil || strings.Count(string(out), ": OK") < 9 {
		t.Errorf("checksums: %v\n%s", err, out)
	}

	os.WriteFile(svc, []byte(strings.Replace(string(src), "{path: /auth, access: user}", "{path: /auth, acess: user}", 1)), 0o644)
	if out, err := run(); err == nil || !strings.Contains(out, `unknown field "acess"`) {
		t.Errorf("a broken policy passed the pipeline: %v\n%s", err, out)
	}
}

// gitIn runs git in repo with a fixed identity, failing the test when it
// fails.
func gitIn(t *testing.T, repo string) func(args ...string) {
	return func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.email=ci@keycard.invalid", "-c", "user.name=ci"}, args...)...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
}
