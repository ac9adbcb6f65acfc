package anchors

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/internal/testing/wasmtest"
	"github.com/keycard-gw/keycard/internal/wasmhost"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

var sizes = []int{100, 1_000, 10_000}

// now is the benchmarks' clock: tokens are minted for it.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const secret = "anchors-secret-0123456789abcdef0123456789"

// route is one generated route: a literal, a parameter or a rest per
// three, each kind at its own level, as a real API spreads them.
type route struct {
	path  string // Keycard's pattern
	glob  string // the same as an OPA glob
	regex string // the same as the seed plugins' regular expression
	level int
}

func routes(n int) []route {
	out := make([]route, 0, n)
	for i := range n {
		base := fmt.Sprintf("/v1/r%d", i-i%3)
		switch i % 3 {
		case 0:
			out = append(out, route{base, base, "^" + base + "$", 0})
		case 1:
			out = append(out, route{base + "/{id}", base + "/*", "^" + base + "/[^/]+$", 1})
		default:
			out = append(out, route{base + "/{id}/items/**", base + "/*/items/**", "^" + base + "/[^/]+/items/.*$", 2})
		}
	}
	return out
}

func policy(rs []route) []byte {
	var b strings.Builder
	b.WriteString("version: 1\nname: anchors\nidentity:\n  issuers: [{name: login, algorithms: [HS256], secret: {env: ANCHORS_SECRET}}]\nlevels: {public: 0, user: 1, admin: 2}\nservices:\n  - name: api\n    hosts: [api.example]\n    routes:\n")
	names := []string{"public", "user", "admin"}
	for _, r := range rs {
		fmt.Fprintf(&b, "      - {path: %q, access: %s}\n", r.path, names[r.level])
	}
	return []byte(b.String())
}

// probe is the request every anchor decides: a user-level route in the
// middle of the policy, asked with a level-1 token, allowed.
func probe(n int) (path string, r route) {
	i := (n/2)/3*3 + 1
	return fmt.Sprintf("/v1/r%d/42", i-1), routes(n)[i]
}

func compile(b *testing.B, n int) *compiler.Result {
	b.Setenv("ANCHORS_SECRET", secret)
	res, err := compiler.Compile([]string{"anchors.yaml"}, map[string][]byte{"anchors.yaml": policy(routes(n))}, compiler.Settings{})
	if err != nil {
		b.Fatal(err)
	}
	return res
}

func token(b *testing.B, res *compiler.Result) [][2]string {
	tok, err := mint.Token(res.Config, "login", "", mint.Claims{Subject: "u1", Level: 1, JTI: "anchor"}, now)
	if err != nil {
		b.Fatal(err)
	}
	return [][2]string{{"authorization", "Bearer " + tok}}
}

func module(b *testing.B) []byte { return wasmtest.Module(b, filepath.Join("..", "..")) }

// BenchmarkKeycardNative is the decision of the engine the filter runs,
// natively, with the token's verification cached.
func BenchmarkKeycardNative(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			res := compile(b, n)
			e, err := filter.New(res.Config, res.Table, func() time.Time { return now })
			if err != nil {
				b.Fatal(err)
			}
			path, _ := probe(n)
			req := &filter.Request{Method: "GET", Authority: "api.example", Path: path, Headers: filter.HeaderList(token(b, res))}
			if d := e.Decide(req); !d.Allow {
				b.Fatalf("%s: %+v", path, d)
			}
			for b.Loop() {
				if !e.Decide(req).Allow {
					b.Fatal("denied")
				}
			}
		})
	}
}

// BenchmarkKeycardWasm is the whole request through the real module in
// wazero (context, headers, decision, done), the token cached.
func BenchmarkKeycardWasm(b *testing.B) {
	ctx := context.Background()
	for _, n := range sizes {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			res := compile(b, n)
			_, conf := wasmtest.Config(b, res.Config, config.GatewayEnvoy, "")
			vm := wasmtest.VM(b, module(b), wasmhost.Options{Now: func() time.Time { return now }}, conf)
			path, _ := probe(n)
			req := wasmhost.Request{Method: "GET", Authority: "api.example", Path: path, Headers: token(b, res)}
			for b.Loop() {
				r, err := vm.Do(ctx, req)
				if err != nil || !r.Allowed() {
					b.Fatalf("%v %+v", err, r.Response)
				}
			}
		})
	}
}

const mapRego = `package authz

default allow := false

allow if data.routes[input.route] <= input.level
`

const globRego = `package authz

default allow := false

allow if {
	some r in data.routes
	glob.match(r.glob, ["/"], input.path)
	r.level <= input.level
}
`

func prepared(b *testing.B, module string, data map[string]any) rego.PreparedEvalQuery {
	pq, err := rego.New(rego.Query("data.authz.allow"), rego.Module("authz.rego", module), rego.Store(inmem.NewFromObject(data))).PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return pq
}

func evalAllow(b *testing.B, pq rego.PreparedEvalQuery, input map[string]any) {
	rs, err := pq.Eval(context.Background(), rego.EvalInput(input))
	if err != nil || !rs.Allowed() {
		b.Fatalf("%v %v", err, rs)
	}
}

// BenchmarkOPAMap is OPA's best case: the route already resolved (its
// pattern is the input), one map lookup and a comparison. The token is
// not verified: OPA is given its claims.
func BenchmarkOPAMap(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			m := map[string]any{}
			for _, r := range routes(n) {
				m[r.path] = r.level
			}
			pq := prepared(b, mapRego, map[string]any{"routes": m})
			_, r := probe(n)
			input := map[string]any{"route": r.path, "level": 1}
			for b.Loop() {
				evalAllow(b, pq, input)
			}
		})
	}
}

// BenchmarkOPAGlob is the usual policy: the request path matched
// against a list of globs.
func BenchmarkOPAGlob(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			var list []any
			for _, r := range routes(n) {
				list = append(list, map[string]any{"glob": r.glob, "level": r.level})
			}
			pq := prepared(b, globRego, map[string]any{"routes": list})
			path, _ := probe(n)
			input := map[string]any{"path": path, "level": 1}
			for b.Loop() {
				evalAllow(b, pq, input)
			}
		})
	}
}

// BenchmarkSeedRegexScan is the seed plugins' way: every route's
// regular expression tried in order until one matches.
func BenchmarkSeedRegexScan(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			type compiled struct {
				re    *regexp.Regexp
				level int
			}
			var list []compiled
			for _, r := range routes(n) {
				list = append(list, compiled{regexp.MustCompile(r.regex), r.level})
			}
			path, _ := probe(n)
			decide := func() bool {
				for _, c := range list {
					if c.re.MatchString(path) {
						return c.level <= 1
					}
				}
				return false
			}
			if !decide() {
				b.Fatal("denied")
			}
			for b.Loop() {
				if !decide() {
					b.Fatal("denied")
				}
			}
		})
	}
}
