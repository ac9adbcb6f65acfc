package policydiff

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keycard-gw/keycard/compiler"
)

const demoSecret = "keycard-demo-secret-not-for-production"

// variant compiles the example policy with edits to its files.
func variant(t *testing.T, edits map[string][][2]string) *compiler.Result {
	t.Helper()
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	dir := filepath.Join(t.TempDir(), "policies")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "policies"))); err != nil {
		t.Fatal(err)
	}
	for file, reps := range edits {
		p := filepath.Join(dir, file)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		for _, r := range reps {
			if !strings.Contains(s, r[0]) {
				t.Fatalf("%s has no %q", file, r[0])
			}
			s = strings.Replace(s, r[0], r[1], 1)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := compiler.CompileFiles([]string{dir}, compiler.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestDiff(t *testing.T) {
	base := variant(t, nil)
	tests := []struct {
		name  string
		edits map[string][][2]string
		// want: changes that must be there (every field given must match)
		want     []Change
		settings []string // the settings that must change
		lines    int      // how many decision lines, -1 for any
	}{
		{name: "a level raised", edits: map[string][][2]string{"services.yaml": {{"{path: /auth, access: user}", "{path: /auth, access: admin}"}}},
			want:  []Change{{Service: "service_a", RouteBefore: "/auth", RouteAfter: "/auth", Callers: []string{"level 1, any roles"}, Before: "allow (ok)", After: "403 insufficient_level"}},
			lines: 1},
		{name: "a role added", edits: map[string][][2]string{"services.yaml": {{"{path: \"/tickets/{id}\", roles: [support]}", "{path: \"/tickets/{id}\", roles: [support, billing]}"}}},
			want:  []Change{{Service: "service_a", RouteBefore: "/tickets/{id}", RouteAfter: "/tickets/{id}", Callers: []string{"level 0 + role billing"}, Before: "403 missing_role", After: "allow (ok)"}},
			lines: -1},
		{name: "a new route takes over part of another", edits: map[string][][2]string{"services.yaml": {{"      - {path: /admin/**, access: admin, methods: [GET, POST]}\n", "      - {path: /admin/**, access: admin, methods: [GET, POST]}\n      - {path: /admin/reports, access: user}\n"}}},
			want:  []Change{{Service: "service_a", RouteBefore: "/admin/**", RouteAfter: "/admin/reports", Methods: []string{"GET", "HEAD", "POST"}, Callers: []string{"level 1, any roles"}, Before: "403 insufficient_level", After: "allow (ok)"}},
			lines: -1},
		{name: "methods narrowed", edits: map[string][][2]string{"services.yaml": {{"{path: /admin/**, access: admin, methods: [GET, POST]}", "{path: /admin/**, access: admin, methods: [GET]}"}}},
			want:  []Change{{Service: "service_a", RouteBefore: "/admin/**", RouteAfter: "", Methods: []string{"POST"}, Callers: []string{"level 2, any roles"}, Before: "allow (ok)", After: "403 no_route"}},
			lines: -1},
		{name: "a host added", edits: map[string][][2]string{"services.yaml": {{"hosts: [b.shop.example, api.shop.example/b]", "hosts: [b.shop.example, c.shop.example, api.shop.example/b]"}}},
			want:     []Change{{Service: "service_b", Hosts: []string{"c.shop.example"}, Callers: []string{"anyone"}, Before: "404 no_service", After: "allow (public)"}},
			settings: []string{"service service_b hosts"}, lines: -1},
		{name: "a host removed", edits: map[string][][2]string{"services.yaml": {{"hosts: [b.shop.example, api.shop.example/b]", "hosts: [api.shop.example/b]"}}},
			want:     []Change{{Service: "service_b", Hosts: []string{"b.shop.example"}, Callers: []string{"anyone"}, Before: "allow (public)", After: "404 no_service"}},
			settings: []string{"service service_b hosts"}, lines: -1},
		{name: "a service's default changed", edits: map[string][][2]string{"services.yaml": {{"default: not_found", "default: deny"}}},
			want:     []Change{{Service: "service_b", RouteBefore: "", RouteAfter: "", Callers: []string{"anyone"}, Before: "404 no_route", After: "403 no_route"}},
			settings: []string{"service service_b default"}, lines: -1},
		{name: "a route removed", edits: map[string][][2]string{"services.yaml": {{"      - {path: /health, access: public, token: optional, cors: {origins: [\"*\"]}}\n", ""}}},
			want:     []Change{{Service: "service_a", RouteBefore: "/health", RouteAfter: "", Hosts: []string{"a.shop.example", "api.shop.example"}, Callers: []string{"anyone"}, Before: "allow (public)", After: "403 no_route"}},
			settings: []string{"cors of service service_a, route /health *"}, lines: -1},
		{name: "a cors origin added", edits: map[string][][2]string{"shop.yaml": {{"origins: [https://shop.example,", "origins: [https://shop.example, https://partner.example,"}}},
			settings: []string{"cors of the policy"}, lines: 0},
		{name: "a service's preflights no longer forwarded", edits: map[string][][2]string{"services.yaml": {{"forward_preflight: true", "forward_preflight: false"}}},
			settings: []string{"cors of service service_b"}, lines: 0},
		{name: "a route put in shadow mode", edits: map[string][][2]string{"services.yaml": {{"{path: /admin/**, access: admin, methods: [GET, POST]}", "{path: /admin/**, access: admin, methods: [GET, POST], mode: shadow}"}}},
			want:  []Change{{Service: "service_a", RouteBefore: "/admin/**", RouteAfter: "/admin/**", Methods: []string{"GET", "HEAD", "POST"}, Callers: []string{"level 1, any roles"}, Before: "403 insufficient_level", After: "allow (shadow: 403 insufficient_level)"}},
			lines: -1},
		{name: "a role permission's scope changed", edits: map[string][][2]string{"shop.yaml": {{`scopes: ["invoices:write"]}`, `scopes: ["invoices:admin"]}`}}},
			settings: []string{"scopes of role billing, permission DELETE /b/invoices/{id}"}, lines: -1},
		{name: "an issuer's audience changed", edits: map[string][][2]string{"shop.yaml": {{"audiences: [shop-api]", "audiences: [shop-api-v2]"}}},
			settings: []string{"issuer login audiences"}, lines: 0},
		{name: "a pure reformatting", edits: map[string][][2]string{"services.yaml": {
			{"{path: /auth, access: user}", "{ path: \"/auth\",   access: user }"},
			{"    default: deny\n", "    default: deny   # the same\n"},
		}}, lines: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Diff(base, variant(t, tc.edits))
			if err != nil {
				t.Fatal(err)
			}
			if tc.lines >= 0 && len(r.Decisions) != tc.lines {
				t.Errorf("%d decision lines, want %d:\n%s", len(r.Decisions), tc.lines, Text(r))
			}
			for _, w := range tc.want {
				if !slices.ContainsFunc(r.Decisions, func(c Change) bool { return matches(c, w) }) {
					t.Errorf("no change like %+v in:\n%s", w, Text(r))
				}
			}
			var got []string
			for _, s := range r.Settings {
				got = append(got, s.What)
			}
			if !slices.Equal(got, tc.settings) && !(len(got) == 0 && len(tc.settings) == 0) {
				t.Errorf("settings %v, want %v", got, tc.settings)
			}
			if tc.name == "a pure reformatting" && !r.Empty() {
				t.Errorf("a reformatting differs:\n%s", Text(r))
			}
		})
	}
}

// matches reports whether c has every field that w gives.
func matches(c, w Change) bool {
	if c.Service != w.Service || c.Before != w.Before || c.After != w.After {
		return false
	}
	if (w.RouteBefore != "" || w.RouteAfter != "" || w.Callers != nil && w.Hosts == nil) && (c.RouteBefore != w.RouteBefore || c.RouteAfter != w.RouteAfter) {
		return false
	}
	for _, x := range w.Callers {
		if !slices.Contains(c.Callers, x) {
			return false
		}
	}
	for _, x := range w.Hosts {
		if !slices.Contains(c.Hosts, x) {
			return false
		}
	}
	if w.Methods != nil && !slices.Equal(c.Methods, w.Methods) {
		return false
	}
	return true
}

// TestDiffSecretsNeverShown: a changed HMAC secret shows as a changed
// thumbprint, not as the secret.
func TestDiffSecretsNeverShown(t *testing.T) {
	base := variant(t, nil)
	t.Setenv("OTHER_SECRET", "another-demo-secret-0123456789abcdef")
	changed := variant(t, map[string][][2]string{"shop.yaml": {{"secret: {env: KEYCARD_DEMO_SECRET}", "secret: {env: OTHER_SECRET}"}}})
	r, err := Diff(base, changed)
	if err != nil {
		t.Fatal(err)
	}
	out := Text(r) + Markdown(r)
	if len(r.Settings) != 1 || r.Settings[0].What != "issuer login keys" || strings.Contains(out, "another-demo-secret") || strings.Contains(out, demoSecret) {
		t.Errorf("settings %+v\n%s", r.Settings, out)
	}
}

// TestDiffArtifact: a compiled filter configuration (for either gateway)
// diffs like its policy.
func TestDiffArtifact(t *testing.T) {
	base := variant(t, nil)
	for _, gw := range []string{"kong", "envoy"} {
		cfg := *base.Config
		cfg.Gateway = gw
		art := Side{Config: &cfg, Table: base.Table}
		r, err := DiffSides(art, FromResult(base))
		if err != nil || !r.Empty() {
			t.Errorf("%s artifact against its policy: %v\n%s", gw, err, Text(r))
		}
		moved := cfg
		moved.Gateway = map[string]string{"kong": "envoy", "envoy": "kong"}[gw]
		moved.Sidecar.Upstream, moved.Sidecar.TimeoutMillis, moved.Sidecar.Key = "10.0.0.9:8181", 500, "another-gateway-key-0123"
		r, _ = DiffSides(art, Side{Config: &moved, Table: base.Table})
		if got := fmt.Sprint(r.Settings); !strings.Contains(got, "gateway") || !strings.Contains(got, "upstream 10.0.0.9:8181, timeout 500ms, gateway key sha256:") || strings.Contains(got, "another-gateway-key") {
			t.Errorf("%s artifact against one deployed elsewhere: %s", gw, got)
		}
		raised := variant(t, map[string][][2]string{"services.yaml": {{"{path: /auth, access: user}", "{path: /auth, access: admin}"}}})
		if r, _ := DiffSides(art, FromResult(raised)); len(r.Decisions) != 1 {
			t.Errorf("%s artifact against a changed policy:\n%s", gw, Text(r))
		}
	}
}
