package main

import (
	"encoding/base64"
	"fmt"
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
	// The environment each CI file gives the job: its own variables, and
	// the secrets it names (GitHub: ${{ secrets.X }}; GitLab: the masked
	// CI/CD variables its header lists), which the test supplies.
	secretValues := map[string]string{"KEYCARD_DEMO_SECRET": demoSecret, "KEYCARD_GATEWAY_KEY": testGatewayKey}
	ciEnv := map[string][]string{}
	for _, f := range []string{"github-actions.yml", "gitlab-ci.yml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "examples", "ci", f))
		var doc map[string]any
		if err != nil || yaml.Unmarshal(data, &doc) != nil || !strings.Contains(string(data), "bash examples/ci/keycard-policy.sh") {
			t.Fatalf("%s does not parse or does not call the script: %v", f, err)
		}
		var vars map[string]any
		var uploads []any
		if f == "github-actions.yml" {
			job := doc["jobs"].(map[string]any)["policy"].(map[string]any)
			vars = job["env"].(map[string]any)
			for _, st := range job["steps"].([]any) {
				if with, ok := st.(map[string]any)["with"].(map[string]any); ok && strings.HasPrefix(fmt.Sprint(st.(map[string]any)["uses"]), "actions/upload-artifact") {
					uploads = append(uploads, with["path"])
				}
			}
		} else {
			job := doc["keycard-policy"].(map[string]any)
			vars = job["variables"].(map[string]any)
			uploads = job["artifacts"].(map[string]any)["paths"].([]any)
			for _, line := range strings.Split(string(data), "\n") {
				if names, ok := strings.CutPrefix(strings.TrimSpace(line), "# KEYCARD_"); ok {
					for _, n := range strings.Fields("KEYCARD_" + names) {
						vars[n] = "${{ secrets." + n + " }}"
					}
				}
			}
		}
		for _, u := range uploads {
			if fmt.Sprint(u) != "keycard-out/" {
				t.Errorf("%s uploads %v: only keycard-out/ may be published", f, u)
			}
		}
		for name, v := range vars {
			val := fmt.Sprint(v)
			if strings.Contains(val, "secrets.") {
				val = secretValues[name]
				if val == "" {
					t.Errorf("%s names secret %s, which the example policy does not use", f, name)
				}
			}
			ciEnv[f] = append(ciEnv[f], name+"="+val)
		}
		for name := range secretValues {
			if _, ok := vars[name]; !ok {
				t.Errorf("%s does not give the job %s, which the example policy needs", f, name)
			}
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

	// Only what the CI file gives: none of the test process's KEYCARD_*.
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYCARD_") {
			base = append(base, kv)
		}
	}
	runWith := func(env []string) (string, error) {
		os.RemoveAll(filepath.Join(repo, "keycard-out"))
		os.RemoveAll(filepath.Join(repo, "keycard-deploy"))
		cmd := exec.Command("bash", script)
		cmd.Dir = repo
		cmd.Env = append(append(append([]string(nil), base...), env...), "KEYCARD="+bin, "KEYCARD_TARGET_REF=main", "KEYCARD_WASM="+module, "GITHUB_ACTIONS=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	run := func() (string, error) { return runWith(ciEnv["github-actions.yml"]) }
	if out, err := runWith(ciEnv["gitlab-ci.yml"]); err != nil {
		t.Errorf("the pipeline with GitLab's environment failed: %v\n%s", err, out)
	}
	out, err := run()
	if err != nil {
		t.Fatalf("the pipeline with GitHub's environment failed: %v\n%s", err, out)
	}
	art := filepath.Join(repo, "keycard-out")
	for _, f := range []string{"policy-tests.xml", "policy-diff.md", "policy.kct", "SHA256SUMS"} {
		if _, err := os.Stat(filepath.Join(art, f)); err != nil {
			t.Errorf("no %s: %v", f, err)
		}
	}
	deployed := filepath.Join(repo, "keycard-deploy")
	for _, f := range []string{"keycard.kong.json", "keycard.envoy.json", "kong/kong.yaml", "kong/keycard.wasm", "envoy/envoy.yaml", "SHA256SUMS"} {
		if _, err := os.Stat(filepath.Join(deployed, f)); err != nil {
			t.Errorf("no %s in keycard-deploy: %v", f, err)
		}
	}
	// Nothing published carries key material, in any encoding the
	// configuration uses.
	secretForms := []string{demoSecret, base64.RawURLEncoding.EncodeToString([]byte(demoSecret)), testGatewayKey}
	filepath.WalkDir(art, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(path)
		for _, sec := range secretForms {
			if strings.Contains(string(data), sec) {
				t.Errorf("%s, which CI publishes, carries key material", path)
			}
		}
		return nil
	})
	if diff, _ := os.ReadFile(filepath.Join(art, "policy-diff.md")); !strings.Contains(string(diff), "| service_a | `/reports (new match; before: no route)` | any method | a.shop.example, api.shop.example | level 2, any roles | 403 no_route | **allow (ok)** |") {
		t.Errorf("the diff does not show the new route:\n%s", diff)
	}
	for dir, n := range map[string]int{art: 3, deployed: 5} {
		verify := exec.Command("sha256sum", "-c", "SHA256SUMS")
		verify.Dir = dir
		if out, err := verify.CombinedOutput(); err != nil || strings.Count(string(out), ": OK") < n {
			t.Errorf("checksums in %s: %v\n%s", dir, err, out)
		}
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
