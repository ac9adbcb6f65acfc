package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keycard-gw/keycard/internal/devgw"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"github.com/keycard-gw/keycard/internal/testing/wasmasm"
)

// failingWriter is a standard output whose writes fail, as /dev/full's
// do.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

// TestOutputs: -o writes atomically where that is right, refuses a
// directory, treats - as standard output and names the user's path; a
// failed write to standard output fails the command.
func TestOutputs(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	dir := t.TempDir()
	target := filepath.Join(dir, "target.kct")
	if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.kct")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}

	code, _, stderr := runCLI(t, "compile", "../../policies", "-o", link)
	if code != 0 {
		t.Fatalf("through a symlink: %d %s", code, stderr)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink was replaced")
	}
	if data, _ := os.ReadFile(target); !strings.HasPrefix(string(data), "KCDT") && len(data) < 10 {
		t.Error("the symlink's target was not written")
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o600 {
		t.Errorf("the target's mode became %v", fi.Mode().Perm())
	}

	code, _, stderr = runCLI(t, "compile", "../../policies", "-o", dir)
	if want := "keycard: " + dir + " is a directory: give a file name\n"; code != 1 || stderr != want {
		t.Errorf("into a directory: %d %q, want 1 %q", code, stderr, want)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "*tmp*")); len(leftovers) > 0 {
		t.Errorf("left behind %v", leftovers)
	}

	code, out, _ := runCLI(t, "compile", "../../policies", "--format", "dump", "-o", "-")
	if code != 0 || !strings.Contains(out, "service") {
		t.Errorf("-o -: %d %q", code, out[:min(len(out), 80)])
	}
	if _, err := os.Stat("-"); err == nil {
		os.Remove("-")
		t.Error("-o - created a file named -")
	}

	missing := filepath.Join(dir, "no-such-dir", "t.kct")
	code, _, stderr = runCLI(t, "compile", "../../policies", "-o", missing)
	if code != 1 || !strings.HasPrefix(stderr, "keycard: writing "+missing+": ") || strings.Contains(stderr, ".tmp") {
		t.Errorf("into a missing directory: %d %q", code, stderr)
	}

	if _, err := os.Stat("/dev/full"); err == nil {
		code, _, stderr = runCLI(t, "compile", "../../policies", "-o", "/dev/full")
		if fi, err := os.Stat("/dev/full"); err != nil || fi.Mode().IsRegular() {
			t.Fatal("/dev/full became a regular file")
		}
		if code != 1 || !strings.Contains(stderr, "writing /dev/full") {
			t.Errorf("-o /dev/full: %d %q", code, stderr)
		}
	}

	for _, args := range [][]string{
		{"compile", "../../policies", "--format", "json", "--gateway", "envoy", "--sidecar-key", "gateway-key-0123456789"},
		{"compile", "../../policies", "--format", "dump"},
		{"check", "../../policies"},
		{"token", "../../policies"},
		{"explain", "../../policies", "GET", "a.shop.example", "/auth", "--level", "1"},
		{"test", "../../policies"},
	} {
		var errb strings.Builder
		code := run(args, failingWriter{}, &errb)
		if code != 1 || !strings.Contains(errb.String(), "writing standard output") {
			t.Errorf("%v into a failing stdout: %d %q", args, code, errb.String())
		}
	}
}

// TestLevelRange: the CLI takes the same level range the filter does.
func TestLevelRange(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"explain", "../../policies", "GET", "a.shop.example", "/auth", "--level", "999"}, "keycard explain: --level 999: a level is 0 to 255 (the filter refuses a token with any other)\n"},
		{[]string{"explain", "../../policies", "GET", "a.shop.example", "/auth", "--level", "-1"}, "keycard explain: --level -1: a level is 0 to 255 (the filter refuses a token with any other)\n"},
		{[]string{"token", "../../policies", "--level", "999"}, "keycard token: --level 999: a level is 0 to 255 (the filter refuses a token with any other)\n"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != 2 || stderr != tc.want {
			t.Errorf("%v: %d %q, want 2 %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestRenderUpstreams: an --upstream for a service the policy lacks is
// refused; services left to a default are named.
func TestRenderUpstreams(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	out := t.TempDir()
	code, _, stderr := runCLI(t, "render", "envoy", "../../policies", "--sidecar", "127.0.0.1:8181", "--sidecar-key", testGatewayKey, "-o", out, "--upstream", "service_c=10.0.0.9:80")
	if want := "keycard: --upstream service_c: the policy has no such service (it has service_a, service_b)\n"; code != 1 || stderr != want {
		t.Errorf("unknown service: %d %q, want 1 %q", code, stderr, want)
	}
}

// TestTestCasesFile: a cases file given by name runs against the policy
// beside it; mistakes in a cases file come as positioned findings, in
// the compiler's words.
func TestTestCasesFile(t *testing.T) {
	testPasses(t, "../../policies/shop.cases.yaml")
	dir := examplePolicy(t)
	bad := filepath.Join(dir, "bad.cases.yaml")
	src := "cases:\n  - name: x\n    request: {host: a.shop.example, path: /, methd: GET}\n    expect: {status: abc}\n"
	if err := os.WriteFile(bad, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "test", bad)
	want := bad + `:3:46: unknown field "methd"` + "\n" +
		"        request: {host: a.shop.example, path: /, methd: GET}\n" +
		"                                                 ^\n" +
		bad + `:4:22: expected a number, not "abc"` + "\n" +
		"        expect: {status: abc}\n" +
		"                         ^\n" +
		"2 error(s)\n"
	if code != 1 || stderr != want {
		t.Errorf("a bad cases file: %d\n%s\nwant:\n%s", code, stderr, want)
	}
}

// TestHelp: every command answers --help with its synopsis, flags and an
// example on stdout and exit 0; --version works; the completion scripts
// name every command and parse.
func TestHelp(t *testing.T) {
	for _, c := range commands() {
		args := []string{c.name, "--help"}
		if c.name == "render" {
			args = []string{"render", "envoy", "--help"}
		}
		if c.name == "image" {
			args = []string{"image", "build", "--help"}
		}
		if c.name == "completion" || c.name == "version" {
			continue
		}
		code, out, stderr := runCLI(t, args...)
		if code != 0 || !strings.HasPrefix(out, "Usage: keycard "+c.name+" ") || !strings.Contains(out, "\nExample:\n  keycard") && !strings.Contains(out, "\nExample:\n  KEYCARD") || stderr != "" {
			t.Errorf("%v: %d %q %q", args, code, out, stderr)
		}
	}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		if code, out, _ := runCLI(t, args...); code != 0 || !strings.HasPrefix(out, "keycard version ") {
			t.Errorf("%v: %d %q", args, code, out)
		}
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, _ := runCLI(t, "completion", shell)
		if code != 0 || !strings.Contains(out, "explain") || !strings.Contains(out, "gateway") {
			t.Errorf("completion %s: %d %q", shell, code, out[:min(len(out), 100)])
		}
	}
}

// TestBinaryPolicy: a binary file renamed .yaml is refused at its first
// bad byte, and its bytes are never echoed.
func TestBinaryPolicy(t *testing.T) {
	f := filepath.Join(t.TempDir(), "blob.yaml")
	if err := os.WriteFile(f, []byte("version: 1\n\x00\x01\x02\x1b[31mred\xff\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "check", f)
	want := f + ":2:1: not a text file: a policy is UTF-8 YAML, and this byte is not text\n" +
		"    (the line is not shown: it holds bytes that are not text)\n1 error(s)\n"
	if code != 1 || stderr != want {
		t.Errorf("%d %q, want 1 %q", code, stderr, want)
	}
}

// TestDemoRevokeLine: the demo's revoke line carries a real token.
func TestDemoRevokeLine(t *testing.T) {
	scenarios := []devgw.Scenario{
		{Name: "no token", Status: 200},
		{Name: "bad", Status: 401, Headers: [][2]string{{"Authorization", "Bearer bad"}}},
		{Name: "user", Status: 200, Headers: [][2]string{{"Authorization", "Bearer good.token.here"}}},
	}
	if got := demoToken(scenarios); got != "good.token.here" {
		t.Errorf("demoToken = %q", got)
	}
}

// TestRenderAnywhere: render works outside the checkout with --wasm (a
// release build embeds the module instead), writes the module it was
// given, and a render that cannot get a module leaves no directory.
func TestRenderAnywhere(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	if len(embeddedModule) > 0 {
		t.Skip("this test binary embeds the module")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "deploy")
	code, _, stderr := runCLI(t, "render", "envoy", "../../policies", "--sidecar", "127.0.0.1:8181", "--sidecar-key", testGatewayKey, "-o", out)
	want := "keycard: this keycard was built without the filter module and is not running in a Keycard checkout: use a release build (make build embeds the module), run it from the checkout, or give --wasm FILE\n"
	if code != 1 || stderr != want {
		t.Errorf("without a module: %d %q, want 1 %q", code, stderr, want)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed render left its output directory")
	}
	module := filepath.Join(dir, "custom.wasm")
	noop := keycardStandIn()
	if err := os.WriteFile(module, noop, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "render", "envoy", "../../policies", "--sidecar", "127.0.0.1:8181", "--sidecar-key", testGatewayKey, "-o", out, "--wasm", module,
		"--upstream", "service_a=10.0.0.5:80", "--upstream", "service_b=10.0.0.6:80")
	if code != 0 || strings.Contains(stderr, "keycard:") {
		t.Fatalf("with --wasm: %d %q", code, stderr)
	}
	if data, _ := os.ReadFile(filepath.Join(out, "keycard.wasm")); !bytes.Equal(data, noop) {
		t.Error("the rendered module is not the one given")
	}
	if conf, _ := os.ReadFile(filepath.Join(out, "envoy.yaml")); !strings.Contains(string(conf), "filename: "+filepath.Join(out, "keycard.wasm")) {
		t.Error("envoy.yaml does not name the module beside it")
	}
}

// TestCIFormats: check speaks GitHub's workflow commands and JSON, test
// JSON and JUnit, with the documented exit codes (0 clean, 1 findings or
// failures, 2 usage).
func TestCIFormats(t *testing.T) {
	dir := examplePolicy(t)
	svc := filepath.Join(dir, "services.yaml")
	src, _ := os.ReadFile(svc)
	if err := os.WriteFile(svc, []byte(strings.Replace(string(src), "{path: /auth, access: user}", "{path: /auth, acess: user}", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "check", "--format", "github", dir)
	want := "::error file=" + svc + ",line=15,col=9::services[0].routes[2]: needs access, roles or both\n" +
		"::error file=" + svc + ",line=15,col=23::services[0].routes[2]: unknown field \"acess\" (did you mean \"access\"?)\n"
	if code != 1 || out != want {
		t.Errorf("github: %d\n%s\nwant:\n%s", code, out, want)
	}
	code, out, _ = runCLI(t, "check", "--format", "json", dir)
	var doc struct {
		OK       bool      `json:"ok"`
		Findings []finding `json:"findings"`
		Summary  struct {
			Errors   int `json:"errors"`
			Warnings int `json:"warnings"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 1 || doc.OK || len(doc.Findings) != 2 || doc.Findings[1].Line != 15 || doc.Findings[1].Severity != "error" || doc.Summary.Errors != 2 || doc.Summary.Warnings != 0 {
		t.Errorf("json: %d %v %+v", code, err, doc)
	}
	if code, _, stderr := runCLI(t, "check", "--format", "sarif", dir); code != 2 || stderr != "keycard check: --format \"sarif\": text, github or json\n" {
		t.Errorf("unknown format: %d %q", code, stderr)
	}

	// A failing case.
	// (the cases reach ../testdata/keys for the partner's private key)
	good := filepath.Join(t.TempDir(), "policies")
	if err := os.CopyFS(good, os.DirFS("../../policies")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(filepath.Dir(good), "testdata", "keys"), os.DirFS("../../testdata/keys")); err != nil {
		t.Fatal(err)
	}
	cases := filepath.Join(good, "shop.cases.yaml")
	csrc, _ := os.ReadFile(cases)
	if err := os.WriteFile(cases, []byte(strings.Replace(string(csrc), "expect: {status: 403, reason: insufficient_level", "expect: {status: 200, reason: insufficient_level", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "junit.xml")
	code, out, _ = runCLI(t, "test", "--format", "json", "--junit", report, good)
	var res struct {
		Passed, Failed int
		Cases          []caseResult
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 1 || res.Failed != 1 || res.Passed != len(res.Cases)-1 {
		t.Errorf("test json: %d %v %d/%d", code, err, res.Passed, res.Failed)
	}
	data, _ := os.ReadFile(report)
	var suites struct {
		Suite struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &suites); err != nil || suites.Suite.Failures != 1 || suites.Suite.Tests != len(res.Cases) {
		t.Errorf("junit: %v %+v", err, suites.Suite)
	}
}

// TestDiffCommand: keycard diff between two git revisions of a policy,
// as a pull request's CI runs it.
func TestDiffCommand(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	repo := t.TempDir()
	if err := os.CopyFS(filepath.Join(repo, "policies"), os.DirFS("../../policies")); err != nil {
		t.Fatal(err)
	}
	git := gitIn(t, repo)
	git("init", "-q")
	git("add", ".")
	git("commit", "-qm", "base")
	svc := filepath.Join(repo, "policies", "services.yaml")
	src, _ := os.ReadFile(svc)
	if err := os.WriteFile(svc, []byte(strings.Replace(string(src), "{path: /auth, access: user}", "{path: /auth, access: admin}", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	git("commit", "-qam", "tighten /auth")
	t.Chdir(repo)
	code, out, stderr := runCLI(t, "diff", "HEAD~1", "HEAD", "--exit-code", "--", "policies/")
	want := "1 change(s) of decision:\n  service_a /auth, any method on a.shop.example, api.shop.example, for level 1, any roles: allow (ok) -> 403 insufficient_level (e.g. DELETE a.shop.example /auth)\n"
	if code != 1 || out != want {
		t.Errorf("diff: %d %q %q\nwant %q", code, out, stderr, want)
	}
	code, out, _ = runCLI(t, "diff", "HEAD", "HEAD", "--exit-code", "--", "policies/")
	if code != 0 || out != "no change\n" {
		t.Errorf("no diff: %d %q", code, out)
	}
	code, out, _ = runCLI(t, "diff", "HEAD~1", "HEAD", "--format", "markdown", "--", "policies/")
	if code != 0 || !strings.Contains(out, "| service_a | `/auth` | any method | a.shop.example, api.shop.example | level 1, any roles | allow (ok) | **403 insufficient_level** |") {
		t.Errorf("markdown: %d\n%s", code, out)
	}
}

// TestExplainShadow: explain says when a denial is shadowed.
func TestExplainShadow(t *testing.T) {
	dir := examplePolicy(t)
	svc := filepath.Join(dir, "services.yaml")
	src, _ := os.ReadFile(svc)
	os.WriteFile(svc, []byte(strings.Replace(string(src), "{path: /admin/**, access: admin, methods: [GET, POST]}", "{path: /admin/**, access: admin, methods: [GET, POST], mode: shadow}", 1)), 0o644)
	code, out, stderr := runCLI(t, "explain", dir, "GET", "a.shop.example", "/admin/users", "--level", "1")
	if code != 0 || !strings.Contains(out, "mode      shadow: the denial below is logged and counted, and the request let through\ndecision  403 insufficient_level\n") {
		t.Errorf("%d %q %q", code, out, stderr)
	}
}

// TestRenderSecretFiles: rendered files that carry the compiled-in HMAC
// secret are written 0600 and named on stderr.
func TestRenderSecretFiles(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	out := filepath.Join(t.TempDir(), "deploy")
	module := filepath.Join(t.TempDir(), "m.wasm")
	os.WriteFile(module, keycardStandIn(), 0o644)
	code, _, stderr := runCLI(t, "render", "kong", "../../policies", "--sidecar", "10.0.0.7:8181", "--sidecar-key", testGatewayKey, "-o", out, "--wasm", module)
	if code != 0 || !strings.Contains(stderr, "keycard render: keycard.json, kong.yaml carry the policy's HMAC secret or the sidecar's gateway key (written 0600)") {
		t.Fatalf("%d %q", code, stderr)
	}
	for name, want := range map[string]os.FileMode{"keycard.json": 0o600, "kong.yaml": 0o600, "kong.conf": 0o644, "keycard.meta.json": 0o644} {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %v", name, err, fi.Mode().Perm(), want)
		}
	}
}

const testGatewayKey = "test-gateway-key-0123456789abcdef"

// TestRenderNeedsGatewayKey: a policy that asks the sidecar cannot be
// rendered without the key the sidecar requires.
func TestRenderNeedsGatewayKey(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	t.Setenv("KEYCARD_GATEWAY_KEY", "")
	code, _, stderr := runCLI(t, "render", "envoy", "../../policies", "--sidecar", "127.0.0.1:8181", "-o", filepath.Join(t.TempDir(), "d"))
	if code != 2 || stderr != "keycard render: the policy asks the sidecar for token state: give --sidecar-key (or $KEYCARD_GATEWAY_KEY), the sidecar's --gateway-key\n" {
		t.Errorf("%d %q", code, stderr)
	}
}

// TestImageCommand: keycard image build writes a layout of the module
// it is given.
func TestImageCommand(t *testing.T) {
	module := filepath.Join(t.TempDir(), "m.wasm")
	os.WriteFile(module, keycardStandIn(), 0o644)
	out := filepath.Join(t.TempDir(), "img")
	code, stdout, stderr := runCLI(t, "image", "build", "-o", out, "--wasm", module, "--tag", "v1")
	if code != 0 || !strings.HasPrefix(stdout, "wrote the OCI image layout "+out+" (sha256:") {
		t.Fatalf("%d %q %q", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "index.json")); err != nil {
		t.Error(err)
	}
	if code, _, stderr := runCLI(t, "image", "build", "-o", out, "--wasm", module); code != 1 || !strings.Contains(stderr, "is not empty") {
		t.Errorf("into a used directory: %d %q", code, stderr)
	}
}

// TestRenderEnvoyGateway: an https module is pinned to the digest of the
// module render writes, and a render that fails writes nothing.
func TestRenderEnvoyGateway(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	module := filepath.Join(t.TempDir(), "m.wasm")
	os.WriteFile(module, keycardStandIn(), 0o644)
	sum := sha256.Sum256(keycardStandIn())
	out := filepath.Join(t.TempDir(), "eg")
	code, _, stderr := runCLI(t, "render", "envoy-gateway", "../../policies", "--sidecar", "keycard-sidecar.keycard.svc.cluster.local:8181", "--sidecar-key", testGatewayKey,
		"--image", "https://modules.example.com/keycard.wasm", "--gateway-name", "eg", "--namespace", "edge", "-o", out, "--wasm", module)
	if code != 0 || strings.Contains(stderr, "default address") {
		t.Fatalf("%d %q", code, stderr)
	}
	text, err := os.ReadFile(filepath.Join(out, "envoy-gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sha256: " + hex.EncodeToString(sum[:]), "namespace: edge", "failOpen: false", "name: keycard_sidecar"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("envoy-gateway.yaml lacks %q", want)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad")
	code, _, stderr = runCLI(t, "render", "envoy-gateway", "../../policies", "--sidecar", "s.ns.svc.cluster.local:8181", "--sidecar-key", testGatewayKey,
		"--image", "oci://r.example/k:v1", "-o", bad, "--wasm", module)
	if code != 1 || stderr != "keycard: --gateway-name: name the Gateway the filter runs on\n" {
		t.Errorf("%d %q", code, stderr)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("a failed render left %s: %v", bad, err)
	}
}

// TestBashCompletionRender runs the bash script: render's gateways and
// its flags both complete (a case arm per command, since bash takes the
// first that matches).
func TestBashCompletionRender(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	code, script, _ := runCLI(t, "completion", "bash")
	if code != 0 {
		t.Fatal(code)
	}
	for _, tc := range []struct{ words, cword, want string }{
		{"keycard render en", "2", "envoy envoy-gateway"},
		{"keycard render kong --sidecar-k", "3", "--sidecar-key"},
	} {
		cmd := exec.Command("bash", "-c", script+"\nCOMP_WORDS=("+tc.words+"); COMP_CWORD="+tc.cword+"; _keycard; echo \"${COMPREPLY[*]}\"")
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != tc.want {
			t.Errorf("%s: %v %q, want %q", tc.words, err, out, tc.want)
		}
	}
}

// octKey finds an HMAC key in JSON or YAML.
var octKey = regexp.MustCompile(`"?kty"?:\s*"?oct\b`)

// TestRenderRuntimeSecret: with the HMAC secret held by the sidecar at
// run time, no file render writes for any gateway holds it, and render
// says where each issuer's keys come from.
func TestRenderRuntimeSecret(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"shop.yaml", "services.yaml"} {
		src, err := os.ReadFile(filepath.Join("..", "..", "policies", name))
		if err != nil {
			t.Fatal(err)
		}
		src = bytes.Replace(src, []byte("secret: {env: KEYCARD_DEMO_SECRET}"), []byte("secret: {runtime: LOGIN_SECRET}"), 1)
		os.WriteFile(filepath.Join(dir, name), src, 0o644)
	}
	os.MkdirAll(filepath.Join(dir, "keys"), 0o755)
	jwks, _ := os.ReadFile(filepath.Join("..", "..", "policies", "keys", "partner.jwks.json"))
	os.WriteFile(filepath.Join(dir, "keys", "partner.jwks.json"), jwks, 0o644)
	t.Setenv("KEYCARD_DEMO_SECRET", "") // compiling must not need it
	module := filepath.Join(t.TempDir(), "m.wasm")
	os.WriteFile(module, keycardStandIn(), 0o644)
	for _, target := range []string{"kong", "envoy", "istio", "envoy-gateway"} {
		out := filepath.Join(t.TempDir(), target)
		args := []string{"render", target, dir, "--sidecar", "10.0.0.7:8181", "--sidecar-key", testGatewayKey, "-o", out, "--wasm", module}
		if target == "istio" || target == "envoy-gateway" {
			args = append(args, "--image", "oci://registry.example/keycard:1", "--sidecar", "keycard-sidecar.keycard.svc.cluster.local:8181", "--gateway-name", "eg")
		}
		code, _, stderr := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%s: %d %s", target, code, stderr)
		}
		for _, want := range []string{
			"keycard render: keys of login: run-time secret LOGIN_SECRET held by the sidecar\n",
			"keycard render: keys of partner: 1 public key(s) pinned in the configuration\n",
			"keycard render: the sidecar holds keys for the filter: start it with --policy",
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", target, want, stderr)
			}
		}
		entries, _ := os.ReadDir(out)
		for _, e := range entries {
			data, _ := os.ReadFile(filepath.Join(out, e.Name()))
			if octKey.Match(data) || bytes.Contains(data, []byte("keycard-demo-secret")) {
				t.Errorf("%s: %s carries an HMAC key", target, e.Name())
			}
		}
	}
}

// TestSidecarKeys: keycard sidecar --policy says what keeps it from
// holding an issuer's keys, before it touches Redis.
func TestSidecarKeys(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(tables.RemoteKeysPolicy("https://idp.example")), 0o644)
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("too-short\n"), 0o600)
	t.Setenv("KEYCARD_SECRET_LOGIN_SECRET", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sidecar", "--policy", dir}, "keycard: sidecar: issuer login: run-time secret LOGIN_SECRET: give --secret-file LOGIN_SECRET=PATH or set KEYCARD_SECRET_LOGIN_SECRET\n"},
		{[]string{"sidecar", "--policy", dir, "--secret-file", "LOGIN_SECRET=" + short}, "keycard: sidecar: issuer login: run-time secret LOGIN_SECRET is 10 bytes; HS256 needs at least 32\n"},
		{[]string{"sidecar", "--policy", dir, "--secret-file", "LOGIN_SECRET=/nonexistent"}, "keycard: sidecar: issuer login: run-time secret LOGIN_SECRET: open /nonexistent: no such file or directory\n"},
		{[]string{"sidecar", "--secret-file", "LOGIN_SECRET=" + short}, "keycard: sidecar: --secret-file needs --policy, which says which issuer takes which secret\n"},
		{[]string{"sidecar", "--policy", filepath.Join(dir, "nope.json")}, "keycard: "},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != 1 || !strings.HasPrefix(stderr, tc.want) {
			t.Errorf("%v: %d %q, want 1 %q", tc.args, code, stderr, tc.want)
		}
	}
	// The explain command names the keys' sources.
	code, out, _ := runCLI(t, "explain", dir, "GET", "api.example", "/me", "--level", "1")
	for _, want := range []string{
		"keys      idp: keys the sidecar fetches through OpenID discovery at https://idp.example/.well-known/openid-configuration (refresh 1s, at most one fetch per 200ms)\n",
		"keys      login: run-time secret LOGIN_SECRET held by the sidecar\n",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("explain: %d, lacks %q:\n%s", code, want, out)
		}
	}
}

// keycardStandIn is a module render takes as Keycard's (the no-op filter
// with Keycard's mark), for tests of what render writes, not of the
// filter.
func keycardStandIn() []byte {
	return wasmasm.WithCustomSection(wasmasm.NoopFilter(), "keycard-test", []byte(keycardMark))
}

// examplePolicy copies the example policy, keys and cases included, to a
// folder of the test's, with its secret set for the test.
func examplePolicy(t *testing.T) string {
	t.Helper()
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	dir := filepath.Join(t.TempDir(), "policies")
	if err := os.CopyFS(dir, os.DirFS("../../policies")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testPasses runs keycard test on path and wants every case to pass.
func testPasses(t *testing.T, path string) {
	t.Helper()
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	if code, out, stderr := runCLI(t, "test", path); code != 0 || !strings.HasPrefix(out, "PASS: ") {
		t.Errorf("keycard test %s: %d\n%s\n%s", path, code, out, stderr)
	}
}
