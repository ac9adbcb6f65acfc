package compiler

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keycard-gw/keycard/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

const secret = "0123456789abcdef0123456789abcdef"

func env(vals map[string]string) Env {
	return func(k string) (string, bool) { v, ok := vals[k]; return v, ok }
}

var testEnv = env(map[string]string{"SECRET": secret, "SHORT": "too-short", "EMPTY": ""})

// base is a small valid policy; cases replace a marked part of it.
const base = `version: 1
name: t
identity:
  issuers:
    - name: login
      algorithms: [HS256]
      secret: {env: SECRET}
levels: {public: 0, user: 1}
roles:
  support: ["GET /tickets/**"]
services:
  - name: a
    hosts: [a.example]
    routes:
      - {path: /, access: public}
      - {path: /t, roles: [support]}
`

func compileSrc(t *testing.T, files map[string]string) (*Result, error) {
	t.Helper()
	var names []string
	srcs := map[string][]byte{}
	for _, n := range []string{"p.yaml", "q.yaml"} {
		if s, ok := files[n]; ok {
			names = append(names, n)
			srcs[n] = []byte(s)
		}
	}
	return Compile(names, srcs, Settings{Env: testEnv})
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"typo field", map[string]string{"p.yaml": strings.Replace(base, "{path: /, access: public}", "{path: /, acess: public}", 1)},
			`p.yaml:15:9: services[0].routes[0]: needs access, roles or both` + "\n" +
				`p.yaml:15:19: services[0].routes[0]: unknown field "acess" (did you mean "access"?)`},
		{"scheme not a token", map[string]string{"p.yaml": strings.Replace(base, "identity:\n", "identity:\n  token: [{header: Authorization, scheme: \"Bearer:\"}]\n", 1)},
			`p.yaml:4:11: identity.token[0]: scheme "Bearer:" is not an HTTP token (such as Bearer)`},
		{"unknown top field", map[string]string{"p.yaml": base + "servces: []\n"},
			`p.yaml:17:1: policy: unknown field "servces" (did you mean "services"?)`},
		{"unknown level", map[string]string{"p.yaml": strings.Replace(base, "access: public", "access: admn", 1)},
			`p.yaml:15:27: route "/": unknown level "admn"`},
		{"unknown level suggestion", map[string]string{"p.yaml": strings.Replace(base, "access: public", "access: usr", 1)},
			`p.yaml:15:27: route "/": unknown level "usr" (did you mean "user"?)`},
		{"unknown role", map[string]string{"p.yaml": strings.Replace(base, "roles: [support]", "roles: [suport]", 1)},
			`p.yaml:16:28: route "/t": unknown role "suport" (did you mean "support"?)`},
		{"tie", map[string]string{"p.yaml": base + "      - {path: /t, access: user}\n"},
			`p.yaml:17:16: route "/t" ties with route "/t" at p.yaml:16:16: both match the same paths and methods`},
		{"param tie", map[string]string{"p.yaml": base + "      - {path: \"/x/{a}\", access: user}\n      - {path: /x/*, access: user}\n"},
			`p.yaml:18:16: route "/x/*" ties with route "/x/{a}" at p.yaml:17:16: both match the same paths and methods`},
		{"methods do not tie", map[string]string{"p.yaml": base + "      - {path: /m, access: user, methods: [GET]}\n      - {path: /m, access: user, methods: [POST]}\n"}, ""},
		{"methods tie", map[string]string{"p.yaml": base + "      - {path: /m, access: user, methods: [GET]}\n      - {path: /m, access: user, methods: [POST, GET]}\n"},
			`p.yaml:18:16: route "/m" ties with route "/m" at p.yaml:17:16: both match the same paths and methods`},
		{"GET covers HEAD", map[string]string{"p.yaml": base + "      - {path: /m, access: user, methods: [GET]}\n      - {path: /m, access: public, methods: [HEAD]}\n"},
			`p.yaml:18:16: route "/m" ties with route "/m" at p.yaml:17:16 on HEAD: a route that names GET covers HEAD, so name HEAD in one of them only`},
		{"cors without origins", map[string]string{"p.yaml": base + "cors: {credentials: true}\n"},
			`p.yaml:17:7: cors: needs origins`},
		{"cors origin with a path", map[string]string{"p.yaml": base + "cors: {origins: [\"https://shop.example/app\"]}\n"},
			`p.yaml:17:18: cors: origin "https://shop.example/app": only scheme, host and port; a wildcard only as the first label (*.)`},
		{"cors origin in upper case", map[string]string{"p.yaml": base + "cors: {origins: [\"https://Shop.example\"]}\n"},
			`p.yaml:17:18: cors: origin "https://Shop.example": browsers send origins in lower case`},
		{"cors any origin with credentials", map[string]string{"p.yaml": base + "cors: {origins: [\"*\"], credentials: true}\n"},
			`p.yaml:17:18: cors: origin "*" with credentials: browsers refuse it; list the origins`},
		{"cors forwarding on a route", map[string]string{"p.yaml": base + "      - {path: /m, access: user, cors: {origins: [\"*\"], forward_preflight: true}}\n"},
			`p.yaml:17:40: cors: forward_preflight is a service's choice, not the policy's or a route's`},
		{"cors unknown field", map[string]string{"p.yaml": base + "cors: {origins: [\"*\"], max-age: 5m}\n"},
			`p.yaml:17:24: cors: unknown field "max-age" (did you mean "max_age"?)`},
		{"rest not last", map[string]string{"p.yaml": base + "      - {path: /**/x, access: user}\n"},
			`p.yaml:17:16: route "/**/x": ** must be the last segment`},
		{"bad method", map[string]string{"p.yaml": base + "      - {path: /m, access: user, methods: [get]}\n"},
			`p.yaml:17:44: route "/m": method "get" is not one of GET HEAD POST PUT PATCH DELETE OPTIONS CONNECT TRACE (did you mean "GET"?)`},
		{"bad pattern", map[string]string{"p.yaml": base + "      - {path: \"/a/b{c}\", access: user}\n"},
			`p.yaml:17:16: route "/a/b{c}": segment b{c} mixes a literal with { } or *; a wildcard is a whole segment`},
		{"bad permission", map[string]string{"p.yaml": strings.Replace(base, `"GET /tickets/**"`, `"GET re:(["`, 1)},
			`p.yaml:10:13: role support: permission "GET re:([": bad regular expression: missing closing ]: ` + "`[`"},
		{"scopes on a regex permission", map[string]string{"p.yaml": strings.Replace(base, `["GET /tickets/**"]`, `[{permission: "GET re:^/t$", scopes: [t:read]}]`, 1)},
			`p.yaml:10:26: role support: permission "GET re:^/t$": scopes on a re: permission are not supported; write it as a path pattern`},
		{"a scoped permission sharing its line", map[string]string{"p.yaml": strings.Replace(base, `["GET /tickets/**"]`, `["GET /a", {permission: "GET /tickets/**", scopes: [t:read]}]`, 1)},
			`p.yaml:10:36: role support: permission "GET /tickets/**": a permission with scopes needs a line of its own`},
		{"a permission mapping without a permission", map[string]string{"p.yaml": strings.Replace(base, `["GET /tickets/**"]`, `[{scopes: [t:read]}]`, 1)},
			`p.yaml:10:13: role support[0]: needs a permission`},
		{"a bad scope on a permission", map[string]string{"p.yaml": strings.Replace(base, `["GET /tickets/**"]`, `[{permission: "GET /t", scope: [t:read]}]`, 1)},
			`p.yaml:10:36: role support[0]: unknown field "scope" (did you mean "scopes"?)`},
		{"duplicate service", map[string]string{"p.yaml": base + "  - name: a\n    hosts: [b.example]\n    routes: [{path: /, access: public}]\n"},
			`p.yaml:17:5: service a: defined twice (first at p.yaml:12:5)`},
		{"bad host", map[string]string{"p.yaml": strings.Replace(base, "[a.example]", "[a_b.example, \"*.x\", a.*.example]", 1)},
			`p.yaml:13:13: service a: host "a_b.example" has a character other than letters, digits, - and .` + "\n" +
				`p.yaml:13:26: service a: host "*.x" a wildcard needs at least two labels after *.` + "\n" +
				`p.yaml:13:33: service a: host "a.*.example" a wildcard is only allowed as a leading *. label`},
		{"a host written as a URL", map[string]string{"p.yaml": strings.Replace(base, "hosts: [a.example]", "hosts: [\"http://a.example\"]", 1)},
			"p.yaml:13:13: service a: host \"http://a.example\": a host is a name, not a URL: drop http:// (a path prefix may follow the name: api.shop.example/a)"},
		{"missing secret", map[string]string{"p.yaml": strings.Replace(base, "SECRET", "NOPE", 1)},
			`p.yaml:7:15: issuer login: environment variable NOPE is not set`},
		{"empty secret", map[string]string{"p.yaml": strings.Replace(base, "SECRET", "EMPTY", 1)},
			`p.yaml:7:15: issuer login: environment variable EMPTY is set but empty`},
		{"short secret", map[string]string{"p.yaml": strings.Replace(base, "SECRET", "SHORT", 1)},
			`p.yaml:7:15: issuer login: secret from $SHORT is 9 bytes; HS256 needs at least 32`},
		{"algorithm does not fit", map[string]string{"p.yaml": strings.Replace(base, "[HS256]", "[HS256, ES256]", 1)},
			`p.yaml:6:27: issuer login: algorithm ES256 does not fit its keys (HMAC secret)`},
		{"unknown algorithm", map[string]string{"p.yaml": strings.Replace(base, "[HS256]", "[none]", 1)},
			`p.yaml:5:7: issuer login: key HMAC secret fits none of the algorithms [none]` + "\n" +
				`p.yaml:6:20: issuer login: algorithm "none" is not supported`},
		{"duplicate across files", map[string]string{"p.yaml": base, "q.yaml": "version: 1\nlevels: {x: 3}\nroles:\n  support: []\n"},
			`q.yaml:2:1: levels already defined at p.yaml:8:1`},
		{"duplicate role across files", map[string]string{"p.yaml": base, "q.yaml": "version: 1\nroles:\n  support: []\n"},
			`q.yaml:3:3: role support: defined twice (first at p.yaml:10:3)`},
		{"yaml syntax", map[string]string{"p.yaml": "version: 1\nname: [\n"},
			`p.yaml:2:7: invalid YAML: this bracket is not closed (did not find expected node content)`},
		{"yaml syntax without a bracket", map[string]string{"p.yaml": "version: 1\nname: t\n  bad: x\n"},
			`p.yaml:3:1: invalid YAML near line 3: mapping values are not allowed in this context`},
		{"unclosed flow mapping", map[string]string{"p.yaml": "version: 1\nname: t\nlevels: {a: 1, b: 2\nroles:\n  x: []\n"},
			`p.yaml:3:9: invalid YAML: this bracket is not closed (did not find expected ',' or '}')`},
		{"unclosed flow sequence at the end", map[string]string{"p.yaml": "version: 1\nname: t\nroles:\n  x: [\"GET /a\"\n"},
			`p.yaml:4:6: invalid YAML: this bracket is not closed (did not find expected ',' or ']')`},
		{"empty file", map[string]string{"p.yaml": "\n  \n"},
			`p.yaml:1:1: the file is empty: a policy file holds at least version: 1`},
		{"binary file", map[string]string{"p.yaml": "version: 1\nna\x00me: t\n"},
			`p.yaml:2:3: not a text file: a policy is UTF-8 YAML, and this byte is not text`},
		{"invalid UTF-8", map[string]string{"p.yaml": "version: 1\nname: \xff\n"},
			`p.yaml:2:7: not a text file: a policy is UTF-8 YAML, and this byte is not text`},
		{"long name", map[string]string{"p.yaml": strings.Replace(base, "name: t", "name: "+strings.Repeat("n", 100), 1)},
			`p.yaml:2:7: name is 100 bytes long (at most 64): "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"…`},
		{"name with a space", map[string]string{"p.yaml": strings.Replace(base, "name: a\n", "name: \"a b\"\n", 1)},
			`p.yaml:12:11: services[0].name "a b": use letters, digits, '_', '-' and '.', starting with a letter or digit`},
		{"role name with a colon", map[string]string{"p.yaml": strings.Replace(base, "  support:", "  \"sup:port\":", 1) + "      - {path: /u, access: user}\n"},
			`p.yaml:10:3: role name "sup:port": use letters, digits, '_', '-' and '.', starting with a letter or digit`},
		{"wrong type", map[string]string{"p.yaml": strings.Replace(base, "levels: {public: 0, user: 1}", "levels: {public: 0, user: x}", 1)},
			`p.yaml:8:27: level user must be an integer, not "x"`},
		{"remote keys over http", map[string]string{"p.yaml": strings.Replace(base, "algorithms: [HS256]\n      secret: {env: SECRET}", "algorithms: [ES256]\n      jwks: {url: \"http://idp.example/keys\"}", 1)},
			`p.yaml:7:13: issuer login: "http://idp.example/keys" is not https: keys fetched in the clear can be replaced on the way (allow_http: true is for tests)`},
		{"remote keys over http in a test", map[string]string{"p.yaml": strings.Replace(base, "algorithms: [HS256]\n      secret: {env: SECRET}", "algorithms: [ES256]\n      jwks: {url: \"http://127.0.0.1:9/keys\", allow_http: true}", 1)}, ""},
		{"oidc and jwks url", map[string]string{"p.yaml": strings.Replace(base, "algorithms: [HS256]\n      secret: {env: SECRET}", "algorithms: [ES256]\n      jwks: {url: \"https://idp.example/keys\"}\n      oidc: {issuer: \"https://idp.example\"}", 1)},
			`p.yaml:8:13: issuer login: oidc and jwks.url exclude each other (discovery finds the JWKS)`},
		{"fetch settings on a file", map[string]string{"p.yaml": strings.Replace(base, "algorithms: [HS256]\n      secret: {env: SECRET}", "algorithms: [ES256]\n      jwks: {file: k.json, refresh: 1m}", 1)},
			`p.yaml:7:13: identity.issuers[0].jwks: refresh, min_interval, timeout and allow_http are for a key set fetched from a URL`},
		{"min_interval over refresh", map[string]string{"p.yaml": strings.Replace(base, "algorithms: [HS256]\n      secret: {env: SECRET}", "algorithms: [ES256]\n      oidc: {issuer: \"https://idp.example\", refresh: 10s, min_interval: 1m}", 1)},
			`p.yaml:7:13: issuer login: min_interval 1m0s is longer than refresh 10s`},
		{"remote keys for HMAC", map[string]string{"p.yaml": strings.Replace(base, "secret: {env: SECRET}", "oidc: {issuer: \"https://idp.example\"}", 1)},
			`p.yaml:5:7: issuer login: a fetched key set holds public keys, and none of the algorithms [HS256] uses one` + "\n" +
				`p.yaml:6:20: issuer login: algorithm HS256 does not fit its keys (public keys from https://idp.example/.well-known/openid-configuration)`},
		{"a claim path with an empty name", map[string]string{"p.yaml": strings.Replace(base, "issuers:", "claims: {roles: realm_access..roles}\n  issuers:", 1)},
			`p.yaml:4:19: identity.claims.roles: claim path "realm_access..roles": an empty name`},
		{"an issuer's own subject", map[string]string{"p.yaml": strings.Replace(base, "algorithms: [HS256]", "algorithms: [HS256]\n      claims: {subject: email, roles: realm_access.roles}", 1)},
			`p.yaml:7:16: identity.issuers[0].claims.subject: the subject names a token's state at the sidecar, which reads identity.claims.subject for every issuer: set it there`},
		{"a forwarded claim without its path", map[string]string{"p.yaml": strings.Replace(base, "issuers:", "forward: {X-Auth-Tenant: {}}\n  issuers:", 1)},
			`p.yaml:4:28: identity.forward.X-Auth-Tenant: needs claim: PATH`},
		{"two secret sources", map[string]string{"p.yaml": strings.Replace(base, "secret: {env: SECRET}", "secret: {env: SECRET, runtime: LOGIN}", 1)},
			`p.yaml:7:15: identity.issuers[0].secret: needs exactly one of env, file, runtime`},
		{"bad runtime name", map[string]string{"p.yaml": strings.Replace(base, "secret: {env: SECRET}", "secret: {runtime: login-secret}", 1)},
			`p.yaml:7:15: issuer login: secret.runtime "login-secret": the name is letters, digits and _ (the sidecar reads it from KEYCARD_SECRET_LOGIN-SECRET or --secret-file login-secret=PATH)`},
		{"optional token on a protected route", map[string]string{"p.yaml": base + "      - {path: /o, access: user, token: optional}\n"},
			`p.yaml:17:9: route "/o": token: optional only fits a public route`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compileSrc(t, tc.files)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestRemoteKeys: the compiled issuer says what the sidecar holds, with
// the defaults, and carries no key material for a run-time secret; an
// OpenID issuer's iss defaults to its URL.
func TestRemoteKeys(t *testing.T) {
	src := strings.Replace(base, "secret: {env: SECRET}", "secret: {runtime: LOGIN}", 1) + `  - name: b
    hosts: [b.example]
    routes: [{path: /, access: user}]
`
	src = strings.Replace(src, "identity:\n  issuers:\n", "identity:\n  issuers:\n    - name: sso\n      algorithms: [ES256, RS256]\n      oidc: {issuer: \"https://sso.example/realms/x/\", refresh: 1h}\n", 1)
	res, err := compileSrc(t, map[string]string{"p.yaml": src})
	if err != nil {
		t.Fatal(err)
	}
	got := res.Config.Identity.Issuers
	want := []config.Remote{
		{OIDCIssuer: "https://sso.example/realms/x/", RefreshMillis: 3600000, MinIntervalMillis: 30000, TimeoutMillis: 5000},
		{Secret: "LOGIN", RefreshMillis: 600000, MinIntervalMillis: 30000, TimeoutMillis: 5000},
	}
	for i, w := range want {
		if got[i].Remote == nil || *got[i].Remote != w || len(got[i].Keys) != 0 {
			t.Errorf("issuer %s: remote %+v keys %v, want %+v and no keys", got[i].Name, got[i].Remote, got[i].Keys, w)
		}
	}
	if got[0].Issuer != "https://sso.example/realms/x/" || got[0].Remote.URL() != "https://sso.example/realms/x/.well-known/openid-configuration" {
		t.Errorf("iss %q, discovery %q", got[0].Issuer, got[0].Remote.URL())
	}
	if !res.Config.NeedsSidecar() {
		t.Error("remote keys need the sidecar")
	}
	if _, err := res.Config.Validate(); err != nil {
		t.Error(err)
	}
}

func TestWarnings(t *testing.T) {
	src := `version: 1
name: t
identity:
  issuers:
    - {name: login, algorithms: [HS256], secret: {env: SECRET}}
    - {name: api2, audiences: [api2], algorithms: [HS256], secret: {env: SECRET}}
    - {name: v2, issuer: "https://v2", audiences: [api2], algorithms: [HS256], secret: {env: SECRET}}
levels: {public: 0}
roles:
  idle: [/idle]
services:
  - name: a
    hosts: [a.example]
    routes:
      - {path: /b/z, access: public}
      - {path: /c, access: public}
  - name: b
    hosts: [a.example/b]
    routes: [{path: /, access: public}]
`
	res, err := compileSrc(t, map[string]string{"p.yaml": src})
	if err != nil {
		t.Fatal(err)
	}
	want := `p.yaml:5:7: warning: issuer login: no audiences: every token its keys sign passes, whichever client or API it was issued for; name this API's audience (audiences: [...])` + "\n" +
		`p.yaml:6:7: warning: issuers login and api2 share keys and accept the same iss: a token both accept is taken as login's (the first in the policy); give each its issuer, or audiences that do not overlap` + "\n" +
		`p.yaml:10:3: warning: role idle: no route requires it (its permissions still grant access)` + "\n" +
		`p.yaml:12:5: warning: no cors rule: the filter answers CORS preflights itself, and without a rule every preflight gets 403 cors_not_allowed (before, they were let through to the upstream); add cors: {origins: [...]} to the policy or a service, or options.preflight: false to decide OPTIONS like any method` + "\n" +
		`p.yaml:15:16: warning: route "/b/z" of service a is unreachable: service b's prefix takes all its paths`
	if got := res.Warnings.Error(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestErrorLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString(base)
	for range MaxErrors + 10 {
		b.WriteString("      - {path: /, access: nope}\n")
	}
	_, err := compileSrc(t, map[string]string{"p.yaml": b.String()})
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != MaxErrors {
		t.Fatalf("got %d errors, want %d", len(errs), MaxErrors)
	}
}

// TestExamples compiles policies/ and compares its dump with the golden
// file; -update rewrites it.
func TestExamples(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", secret)
	dir := filepath.Join("..", "policies")
	a, err := CompileFiles([]string{dir}, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Warnings) > 0 {
		t.Errorf("warnings: %v", a.Warnings)
	}
	b, err := CompileFiles([]string{dir}, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Config.Table, b.Config.Table) {
		t.Fatal("two compilations differ")
	}
	golden := filepath.Join("..", "testdata", "golden", "shop.dump")
	got := a.Table.Dump()
	if *update {
		os.MkdirAll(filepath.Dir(golden), 0o755)
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./compiler -update)", err)
	}
	if got != string(want) {
		t.Errorf("dump differs from %s (go test ./compiler -update):\n%s", golden, got)
	}
}

func TestMissingDemoSecret(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", "") // restored after the test
	os.Unsetenv("KEYCARD_DEMO_SECRET")
	_, err := CompileFiles([]string{filepath.Join("..", "policies")}, Settings{})
	want := filepath.Join("..", "policies", "shop.yaml") + ":19:15: issuer login: environment variable KEYCARD_DEMO_SECRET is not set"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

func FuzzCompile(f *testing.F) {
	f.Add(base)
	f.Add("version: 1\n")
	f.Add("services: [{name: a, hosts: ['*.x.y'], routes: [{path: /**, access: public}]}]")
	f.Fuzz(func(t *testing.T, src string) {
		res, err := Compile([]string{"p.yaml"}, map[string][]byte{"p.yaml": []byte(src)}, Settings{Env: testEnv})
		if err == nil && res.Table == nil {
			t.Fatal("no error and no table")
		}
	})
}

// TestFilesInMountedFolder: a folder laid out as Kubernetes mounts a
// ConfigMap (each file a link into a hidden folder of the current
// version) gives the files the links name, and no folder.
func TestFilesInMountedFolder(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_12_06_v1")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"shop.yaml", "services.yaml", "shop.cases.yaml", "README"} {
		if err := os.WriteFile(filepath.Join(data, f), []byte("version: 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Base(data), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"shop.yaml", "services.yaml", "shop.cases.yaml", "README"} {
		if err := os.Symlink(filepath.Join("..data", f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Files([]string{dir})
	want := []string{filepath.Join(dir, "services.yaml"), filepath.Join(dir, "shop.yaml")}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Files = %q %v, want %q", got, err, want)
	}
	cases, _, err := FilesIn([]string{dir}, func(name string) bool { return strings.HasSuffix(name, ".cases.yaml") })
	if err != nil || !slices.Equal(cases, []string{filepath.Join(dir, "shop.cases.yaml")}) {
		t.Errorf("cases files = %q %v", cases, err)
	}
	// A link that names nothing is an error, not a file left out.
	dangling := filepath.Join(dir, "dangling.yaml")
	if err := os.Symlink("nowhere.yaml", dangling); err != nil {
		t.Fatal(err)
	}
	if _, err := Files([]string{dir}); err == nil || err.Error() != "stat "+dangling+": no such file or directory" {
		t.Errorf("a dangling link: %v", err)
	}
}
