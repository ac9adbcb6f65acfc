package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/internal/idp"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"github.com/keycard-gw/keycard/internal/testing/wasmasm"
)

const demoSecret = "keycard-demo-secret-not-for-production"

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCompileDeterministic(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.kct"), filepath.Join(dir, "b.kct")
	for _, f := range []string{a, b} {
		if code, _, stderr := runCLI(t, "compile", "../../policies", "-o", f); code != 0 {
			t.Fatalf("compile: %d %s", code, stderr)
		}
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if len(da) == 0 || !bytes.Equal(da, db) {
		t.Fatal("two compilations differ")
	}
	code, out, _ := runCLI(t, "compile", "../../policies", "--format", "json", "--gateway", "kong", "--sidecar-key", "gateway-key-0123456789")
	if code != 0 || !strings.Contains(out, `"gateway": "kong"`) || !strings.Contains(out, `"table": "KCDT`) && !strings.Contains(out, `"table": "S0NEV`) {
		t.Fatalf("json: %d %s", code, out[:min(200, len(out))])
	}
	// The filter refuses a configuration that does not say which gateway
	// it is for, so compile refuses to write one.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "json"}, "keycard compile: --format json needs --gateway kong or envoy: the filter reads the request's host and path where that gateway puts them\n"},
		{[]string{"--format", "json", "--gateway", "nginx"}, "keycard compile: --gateway \"nginx\": kong or envoy\n"},
	} {
		code, _, stderr := runCLI(t, append([]string{"compile", "../../policies"}, tc.args...)...)
		if code != 2 || stderr != tc.want {
			t.Errorf("compile %v: %d %q, want 2 %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestCheckTypo(t *testing.T) {
	f, code, stderr := checkRoutes(t, `      - {path: /, access: public}
      - {path: /auth, acess: user}
`)
	want := f + `:11:23: services[0].routes[1]: unknown field "acess" (did you mean "access"?)
          - {path: /auth, acess: user}
                          ^
`
	if code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("code %d, stderr:\n%s\nwant it to contain:\n%s", code, stderr, want)
	}
}

func TestCheckTie(t *testing.T) {
	f, code, stderr := checkRoutes(t, `      - {path: "/x/{id}", access: public}
      - {path: "/x/*", access: user}
`)
	want := f + `:11:16: route "/x/*" ties with route "/x/{id}" at ` + f + `:10:16: both match the same paths and methods`
	if code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("code %d, stderr:\n%s\nwant:\n%s", code, stderr, want)
	}
}

// checkRoutes runs keycard check on a one-service policy with these
// routes, and returns the policy's file and what check said.
func checkRoutes(t *testing.T, routes string) (file string, code int, stderr string) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	src := `version: 1
name: t
identity:
  issuers: [{name: login, algorithms: [HS256], secret: {env: KEYCARD_DEMO_SECRET}}]
levels: {public: 0, user: 1}
services:
  - name: a
    hosts: [a.example]
    routes:
` + routes
	file = filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(file, []byte(src), 0o644)
	code, _, stderr = runCLI(t, "check", file)
	return file, code, stderr
}

func TestExplain(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"level 0", []string{"GET", "a.shop.example", "/"}, []string{"service   service_a", "route     / (policies/services.yaml:13)", "decision  200 public"}},
		{"no token", []string{"GET", "a.shop.example", "/auth", "--no-token"}, []string{"route     /auth (policies/services.yaml:15)", "decision  401 no_token"}},
		{"level 1 on admin", []string{"GET", "a.shop.example", "/admin/users", "--level", "1"}, []string{"route     /admin/** (policies/services.yaml:16)", "decision  403 insufficient_level"}},
		{"level name", []string{"POST", "api.shop.example", "/a/admin/users", "--level", "admin"}, []string{"decision  200 ok", "forward   x-auth-level: 2"}},
		{"bad path", []string{"GET", "a.shop.example", "/a%00"}, []string{"decision  400 bad_request (path holds an encoded NUL)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, append([]string{"explain", "../../policies"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("code %d: %s", code, stderr)
			}
			out = strings.ReplaceAll(out, "../../", "")
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestTestCommand(t *testing.T) {
	testPasses(t, "../../policies")
	// A wrong expectation fails with expected vs got and the case's line.
	dir := examplePolicy(t)
	os.WriteFile(filepath.Join(dir, "x.cases.yaml"), []byte(`cases:
  - name: wrong
    request: {host: a.shop.example, path: /auth}
    expect: {status: 200, reason: ok}
`), 0o644)
	code, out, _ := runCLI(t, "test", dir)
	want := filepath.Join(dir, "x.cases.yaml") + ":2: wrong: expected 200 ok, got 401 no_token"
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("code %d, out:\n%s\nwant %s", code, out, want)
	}
}

// TestTestRemoteKeys: keycard test with a token of an issuer whose keys
// the sidecar fetches says why it cannot decide it, and decides it with
// the keys from a JWKS file (--jwks) or from the provider (--fetch-keys).
func TestTestRemoteKeys(t *testing.T) {
	p, err := idp.Start("", "")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(tables.RemoteKeysPolicy(p.URL)), 0o644)
	tok, _ := p.Sign(jwt.MapClaims{"sub": "u-1", "level": 1, "exp": time.Now().Add(time.Hour).Unix()})
	cases := "cases:\n  - name: a token of the OpenID provider\n    request: {host: api.example, path: /me}\n    token: " + tok + "\n    expect: {status: 200, headers: {X-Auth-Sub: u-1}}\n"
	os.WriteFile(filepath.Join(dir, "p.cases.yaml"), []byte(cases), 0o644)
	cert := filepath.Join(dir, "idp.pem")
	os.WriteFile(cert, p.CertPEM(), 0o644)
	resp, err := p.Client().Get(p.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	set, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	jwksFile := filepath.Join(dir, "idp.jwks.json")
	os.WriteFile(jwksFile, set, 0o644)

	code, out, _ := runCLI(t, "test", dir)
	want := "FAIL " + filepath.Join(dir, "p.cases.yaml") + ":2: a token of the OpenID provider: the token is issuer idp's, whose keys the sidecar holds (" + p.URL + "/.well-known/openid-configuration) and none were given: pass --jwks idp=FILE, or --fetch-keys to fetch them as the sidecar does (a run-time secret: --secret-file NAME=PATH)\nFAIL: 1 of 1 cases\n"
	if code != 1 || out != want {
		t.Errorf("without keys: %d\n%s\nwant\n%s", code, out, want)
	}
	for _, args := range [][]string{
		{"--jwks", "idp=" + jwksFile},
		{"--fetch-keys", "--ca-file", cert},
	} {
		if code, out, errs := runCLI(t, append([]string{"test", dir}, args...)...); code != 0 || out != "PASS: 1 cases\n" {
			t.Errorf("%v: %d %q %q", args, code, out, errs)
		}
	}
	if code, _, errs := runCLI(t, "test", dir, "--fetch-keys"); code != 1 || !strings.Contains(errs, "issuer idp: fetching its keys: no keys yet:") || !strings.Contains(errs, "certificate") {
		t.Errorf("--fetch-keys without the provider's CA: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "test", dir, "--jwks", "nope="+jwksFile); code != 1 || !strings.HasSuffix(errs, "\nkeycard: --jwks nope: the policy has no issuer nope whose keys the sidecar holds\n") {
		t.Errorf("--jwks of an unknown issuer: %d %q", code, errs)
	}
}

func TestUsage(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	if code, _, _ := runCLI(t, "nope"); code != 2 {
		t.Errorf("unknown command: %d", code)
	}
	if code, out, _ := runCLI(t, "version"); code != 0 || !strings.HasPrefix(out, "keycard ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, stderr := runCLI(t, "compile", "../../policies"); code != 2 || !strings.Contains(stderr, "needs -o FILE") {
		t.Errorf("compile without -o: %d %s", code, stderr)
	}
}

// TestSecretsNeverPrinted: keys and passwords given in the environment
// appear in no help, usage or error, whatever the command.
func TestSecretsNeverPrinted(t *testing.T) {
	secrets := map[string]string{
		"KEYCARD_ADMIN_KEY":      "admin-secret-0123456789",
		"KEYCARD_GATEWAY_KEY":    "gateway-secret-0123456789",
		"KEYCARD_JWT_SECRET":     "jwt-secret-0123456789abcdef0123456789",
		"KEYCARD_REDIS_PASSWORD": "redis-secret-0123",
		"KEYCARD_REDIS_URL":      "redis://:url-secret-4567@127.0.0.1:x/0",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	for _, args := range [][]string{
		{"sidecar", "--help"},
		{"sidecar", "--bogus"},
		{"sidecar"},
		{"render", "kong", "--help"},
		{"render", "envoy", "--bogus"},
		{"compile", "--help"},
		{"compile", "../../policies", "--nope"},
	} {
		_, out, errs := runCLI(t, args...)
		for name, v := range secrets {
			secret := v
			if name == "KEYCARD_REDIS_URL" {
				secret = "url-secret-4567"
			}
			if strings.Contains(out+errs, secret) {
				t.Errorf("keycard %s prints $%s:\n%s%s", strings.Join(args, " "), name, out, errs)
			}
		}
	}
	if _, out, _ := runCLI(t, "sidecar", "--help"); !strings.Contains(out, "(default $KEYCARD_ADMIN_KEY, set)") {
		t.Errorf("sidecar --help does not say the admin key is set:\n%s", out)
	}
}

// TestSecretFilesOwnerOnly: every command that writes a file carrying a
// secret writes it 0600 (an existing file too) and says so.
func TestSecretFilesOwnerOnly(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	dir := t.TempDir()
	out := filepath.Join(dir, "keycard.json")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, "compile", "../../policies", "--format", "json", "--gateway", "envoy", "--sidecar-key", "gateway-key-0123456789", "-o", out)
	if code != 0 {
		t.Fatalf("compile: %d %s", code, errs)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("compile --format json: mode %v %v, want 0600", fi.Mode().Perm(), err)
	}
	if !strings.Contains(errs, "keycard compile: "+out+" carry the policy's HMAC secret") {
		t.Errorf("compile says nothing of the secret: %s", errs)
	}
	table := filepath.Join(dir, "shop.table")
	if code, _, errs := runCLI(t, "compile", "../../policies", "-o", table); code != 0 {
		t.Fatalf("compile binary: %d %s", code, errs)
	}
	if fi, _ := os.Stat(table); fi.Mode().Perm() != 0o644 {
		t.Errorf("a table without secrets: mode %v, want 0644", fi.Mode().Perm())
	}
}

// TestOutputOverInput: an output that is an input, or lands inside a
// policy directory, is refused and nothing is written.
func TestOutputOverInput(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	dir := t.TempDir()
	pc := filepath.Join(dir, "pc")
	if err := os.CopyFS(pc, os.DirFS("../../policies")); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(pc, "shop.yaml"))
	if err := os.Symlink(pc, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"compile", pc, "-o", filepath.Join(pc, "shop.yaml")}, "lands inside the policy directory"},
		{[]string{"compile", filepath.Join(pc, "shop.yaml"), filepath.Join(pc, "services.yaml"), "-o", filepath.Join(pc, "shop.yaml")}, "is the input"},
		{[]string{"compile", pc, "-o", filepath.Join(dir, "link", "new.table")}, "lands inside the policy directory"},
		{[]string{"render", "envoy", pc, "--sidecar", "127.0.0.1:8181", "--sidecar-key", "gateway-key-0123456789", "-o", pc}, "is the input"},
		{[]string{"render", "kong", pc, "--sidecar", "127.0.0.1:8181", "--sidecar-key", "gateway-key-0123456789", "-o", filepath.Join(pc, "out")}, "lands inside the policy directory"},
	} {
		code, _, errs := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("keycard %s: %d %s, want 2 and %q", strings.Join(tc.args, " "), code, errs, tc.want)
		}
	}
	after, _ := os.ReadFile(filepath.Join(pc, "shop.yaml"))
	if !bytes.Equal(before, after) {
		t.Error("the policy was overwritten")
	}
	if _, err := os.Stat(filepath.Join(pc, "out")); err == nil {
		t.Error("render wrote inside the policy directory")
	}
	if code, _, errs := runCLI(t, "check", pc); code != 0 {
		t.Errorf("check after the refusals: %d %s", code, errs)
	}
}

// TestRenderChecksTheModule: --wasm must be a WebAssembly module with the
// proxy-wasm callbacks the hosts call, and Keycard's.
func TestRenderChecksTheModule(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	dir := t.TempDir()
	files := map[string][]byte{
		"passwd":    []byte("root:x:0:0:root:/root:/bin/bash\n"),
		"empty":     wasmasm.Assemble(nil, nil),
		"noop":      wasmasm.NoopFilter(),
		"truncated": []byte("\x00asm\x01\x00\x00\x00\x01\xff"),
	}
	for name, want := range map[string]string{
		"passwd":    "is not a WebAssembly module (no \\0asm version 1 header)",
		"empty":     "is not a proxy-wasm 0.2.1 filter the gateways can run: it lacks",
		"noop":      "is a proxy-wasm filter but not Keycard's",
		"truncated": "is not a valid WebAssembly module",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errs := runCLI(t, "render", "envoy", "../../policies", "--sidecar", "127.0.0.1:8181", "--sidecar-key", "gateway-key-0123456789", "--wasm", path, "-o", filepath.Join(dir, "out-"+name))
		if code == 0 || !strings.Contains(errs, want) {
			t.Errorf("--wasm %s: %d %s, want a refusal saying %q", name, code, errs, want)
		}
		if _, err := os.Stat(filepath.Join(dir, "out-"+name)); err == nil {
			t.Errorf("--wasm %s: render wrote its output", name)
		}
	}
}

// TestGatewayKeyChecks: a gateway key the sidecar would refuse, a
// configuration that would ask the sidecar with no key, and a sidecar
// whose key is not the configuration's are refused before deployment.
func TestGatewayKeyChecks(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	t.Setenv("KEYCARD_GATEWAY_KEY", "")
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"compile", "../../policies", "--format", "json", "--gateway", "envoy", "--sidecar-key", "short", "-o", filepath.Join(dir, "a.json")},
			"keycard compile: --sidecar-key is 5 bytes: the sidecar takes gateway keys of at least 16"},
		{[]string{"compile", "../../policies", "--format", "json", "--gateway", "envoy", "-o", filepath.Join(dir, "b.json")},
			"keycard compile: the policy asks the sidecar for token state: give --sidecar-key (or $KEYCARD_GATEWAY_KEY), the sidecar's --gateway-key"},
		{[]string{"render", "envoy", "../../policies", "--sidecar", "127.0.0.1:8181", "--sidecar-key", "short", "-o", filepath.Join(dir, "c")},
			"keycard render: --sidecar-key is 5 bytes: the sidecar takes gateway keys of at least 16"},
	} {
		code, _, errs := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("keycard %s: %d %q, want 2 and %q", strings.Join(tc.args, " "), code, errs, tc.want)
		}
	}
	conf := filepath.Join(dir, "keycard.json")
	if code, _, errs := runCLI(t, "compile", "../../policies", "--format", "json", "--gateway", "envoy", "--sidecar-key", "gateway-key-0123456789", "-o", conf); code != 0 {
		t.Fatal(errs)
	}
	code, _, errs := runCLI(t, "sidecar", "--policy", conf, "--gateway-key", "another-key-0123456789", "--admin-key", "admin-key-0123456789", "--redis-url", "redis://127.0.0.1:1")
	if code == 0 || !strings.Contains(errs, "carries another gateway key than --gateway-key") || strings.Contains(errs, "gateway-key-0123456789") {
		t.Errorf("sidecar with another key than the configuration's: %d %s", code, errs)
	}
}

// TestRuntimeSecretTokens: with secret: {runtime: NAME}, token and test
// sign with the secret the sidecar would read ($KEYCARD_SECRET_NAME or
// --secret-file NAME=PATH).
func TestRuntimeSecretTokens(t *testing.T) {
	dir := t.TempDir()
	pc := filepath.Join(dir, "pc")
	if err := os.CopyFS(pc, os.DirFS("../../policies")); err != nil {
		t.Fatal(err)
	}
	shop := filepath.Join(pc, "shop.yaml")
	src, _ := os.ReadFile(shop)
	os.WriteFile(shop, []byte(strings.Replace(string(src), "secret: {env: KEYCARD_DEMO_SECRET}", "secret: {runtime: LOGIN}", 1)), 0o644)
	if err := os.CopyFS(filepath.Join(dir, "testdata", "keys"), os.DirFS("../../testdata/keys")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KEYCARD_SECRET_LOGIN", "")
	if code, _, errs := runCLI(t, "token", pc, "--issuer", "login"); code != 1 || !strings.Contains(errs, "run-time secret LOGIN: give --secret-file LOGIN=PATH or set KEYCARD_SECRET_LOGIN") {
		t.Errorf("no secret anywhere: %d %s", code, errs)
	}
	file := filepath.Join(dir, "login.secret")
	os.WriteFile(file, []byte(demoSecret+"\n"), 0o600)
	code, out, errs := runCLI(t, "token", pc, "--issuer", "login", "--secret-file", "LOGIN="+file)
	if code != 0 {
		t.Fatalf("token with --secret-file: %d %s", code, errs)
	}
	parts := strings.Split(strings.TrimSpace(out), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", out)
	}
	t.Setenv("KEYCARD_SECRET_LOGIN", demoSecret)
	if code, out, errs := runCLI(t, "test", pc); code != 0 || !strings.Contains(out, "PASS") {
		t.Errorf("test with $KEYCARD_SECRET_LOGIN: %d %s %s", code, out, errs)
	}
}

// TestSidecarPolicyWithoutHMACSecrets: the sidecar compiles its --policy
// for the keys it holds, and needs none of the HMAC secrets the filter's
// configuration compiles in.
func TestSidecarPolicyWithoutHMACSecrets(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", "")
	code, _, errs := runCLI(t, "sidecar", "--policy", "../../policies", "--admin-key", "admin-key-0123456789", "--gateway-key", "gateway-key-0123456789", "--redis-url", "redis://127.0.0.1:x")
	if code == 0 || strings.Contains(errs, "KEYCARD_DEMO_SECRET") || !strings.Contains(errs, "--redis-url") {
		t.Errorf("sidecar --policy without the HMAC secret: %d %s", code, errs)
	}
}

// TestExamplesRun runs every command's --help example that needs no
// server or registry, as a user would type it in a repository that holds
// the example policy: each must succeed.
func TestExamplesRun(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "policies"), os.DirFS("../../policies")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "testdata", "keys"), os.DirFS("../../testdata/keys")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "build"), 0o755)
	os.WriteFile(filepath.Join(dir, "build", "keycard.wasm"), keycardStandIn(), 0o644)
	git := gitIn(t, dir)
	git("init", "-q", "-b", "main")
	git("add", ".")
	git("commit", "-qm", "policy")
	t.Chdir(dir)
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	skip := map[string]bool{"dev": true, "sidecar": true, "image": true, "completion": true} // servers, a registry, a shell
	for _, c := range commands() {
		if skip[c.name] || c.example == "" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			var args []string
			for _, f := range strings.Fields(c.example) {
				if name, val, ok := strings.Cut(f, "="); ok && len(args) == 0 && strings.HasPrefix(name, "KEYCARD_") {
					if val == "..." {
						val = testGatewayKey
					}
					t.Setenv(name, val)
					continue
				}
				args = append(args, f)
			}
			if args[0] != "keycard" {
				t.Fatalf("the example does not start with keycard: %q", c.example)
			}
			if code, _, errs := runCLI(t, args[1:]...); code != 0 {
				t.Errorf("%s: exit %d\n%s", c.example, code, errs)
			}
		})
	}
}

// TestREADMEExplain: README's explain sample is what the command prints.
func TestREADMEExplain(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(string(readme), "`explain` prints the service")
	_, block, _ := strings.Cut(after, "```\n")
	want, _, _ := strings.Cut(block, "```")
	t.Chdir("../..")
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	code, out, errs := runCLI(t, "explain", "policies/", "GET", "a.shop.example", "/admin/users", "--level", "1")
	if code != 0 || out != want {
		t.Errorf("explain: %d %s\n%s\nREADME shows:\n%s", code, errs, out, want)
	}
}

// TestUsageExitCodes: what README says of exit codes: a missing or
// malformed flag is a usage error (2), whichever command finds it.
func TestUsageExitCodes(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	t.Setenv("KEYCARD_GATEWAY_KEY", "")
	out := t.TempDir()
	module := filepath.Join(t.TempDir(), "keycard.wasm")
	os.WriteFile(module, keycardStandIn(), 0o644)
	for _, args := range [][]string{
		{"render", "istio", "../../policies", "--sidecar", "10.0.0.1:8181", "--sidecar-key", testGatewayKey, "--wasm", module, "-o", out},
		{"render", "envoy-gateway", "../../policies", "--sidecar", "10.0.0.1:8181", "--sidecar-key", testGatewayKey, "--gateway-name", "eg", "--wasm", module, "-o", out},
		{"render", "kong", "../../policies", "--sidecar", "keycard-sidecar:8181", "--sidecar-key", testGatewayKey, "-o", out},
		{"render", "kong", "../../policies", "--sidecar", "10.0.0.1:8181", "-o", out},
		{"render", "kong", "../../policies", "-o", out},
		{"compile", "../../policies", "--format", "json", "--gateway", "envoy"},
		{"explain", "../../policies", "GET"},
		{"dev", "../../policies", "--workers", "-1"},
	} {
		if code, _, errs := runCLI(t, args...); code != 2 {
			t.Errorf("keycard %s: exit %d, want 2 (%s)", strings.Join(args, " "), code, strings.TrimSpace(errs))
		}
	}
}
