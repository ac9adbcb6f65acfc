package table

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func segs(p string) []Segment {
	var out []Segment
	for _, s := range strings.Split(strings.Trim(p, "/"), "/") {
		switch {
		case s == "":
		case s == "**":
			out = append(out, Segment{Kind: SegRest})
		case s == "*" || strings.HasPrefix(s, "{"):
			out = append(out, Segment{Kind: SegParam})
		default:
			out = append(out, Segment{Kind: SegLiteral, Lit: s})
		}
	}
	return out
}

func route(p string, level uint8, methods MethodSet, line int) RouteSpec {
	return RouteSpec{Pattern: p, Segments: segs(p), Level: level, Methods: methods, Line: line}
}

func exampleSpec() *Spec {
	support := RoleBits{}
	support.Set(1)
	public := route("/", 0, 0, 1)
	public.Flags = FlagPublic
	tickets := route("/tickets/{id}", 0, 0, 5)
	tickets.Roles = support
	return &Spec{
		Roles: []string{"zeta", "support"},
		Services: []ServiceSpec{
			{
				Name:   "service_a",
				Mounts: []Mount{{"a.shop.example", "/"}, {"api.shop.example", "/a"}},
				Routes: []RouteSpec{
					public,
					route("/auth", 1, 0, 2),
					route("/admin/**", 2, MethodGet|MethodPost, 3),
					route("/admin/{x}", 1, MethodGet, 4),
					tickets,
					route("/admin/stats", 1, 0, 6),
				},
			},
			{
				Name:    "service_b",
				Mounts:  []Mount{{"*.b.example", "/"}, {"api.shop.example", "/b"}},
				Default: DefaultNotFound,
				Routes:  []RouteSpec{route("/**", 1, 0, 10)},
			},
		},
		Grants: []GrantSpec{
			{Pattern: "GET /a/tickets/**", Segments: segs("/a/tickets/**"), Methods: MethodGet, Roles: support},
			{Pattern: "re:^/b/x[0-9]+$", Regex: "^/b/x[0-9]+$", Roles: support},
		},
	}
}

func mustBuild(t testing.TB, s *Spec) *Table {
	t.Helper()
	tb, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestLookup(t *testing.T) {
	tb := mustBuild(t, exampleSpec())
	tests := []struct {
		name, host, method, path string
		service, pattern         string
	}{
		{"root by host", "a.shop.example", "GET", "/", "service_a", "/"},
		{"auth by host", "a.shop.example", "GET", "/auth", "service_a", "/auth"},
		{"auth trailing slash", "a.shop.example", "GET", "/auth/", "service_a", "/auth"},
		{"auth by prefix", "api.shop.example", "GET", "/a/auth", "service_a", "/auth"},
		{"prefix root", "api.shop.example", "GET", "/a", "service_a", "/"},
		{"prefix needs boundary", "api.shop.example", "GET", "/ab/auth", "", ""},
		{"literal beats param", "a.shop.example", "GET", "/admin/stats", "service_a", "/admin/stats"},
		{"param beats rest", "a.shop.example", "GET", "/admin/users", "service_a", "/admin/{}"},
		{"param needs method", "a.shop.example", "POST", "/admin/users", "service_a", "/admin/**"},
		{"rest takes none", "a.shop.example", "GET", "/admin", "service_a", "/admin/**"},
		{"rest takes many", "a.shop.example", "POST", "/admin/a/b/c", "service_a", "/admin/**"},
		{"rest method miss", "a.shop.example", "DELETE", "/admin/a/b", "service_a", ""},
		{"lower-case method is unknown", "a.shop.example", "get", "/admin/a/b", "service_a", ""},
		{"no route", "a.shop.example", "GET", "/nope", "service_a", ""},
		{"case sensitive", "a.shop.example", "GET", "/AUTH", "service_a", ""},
		{"wildcard host", "x.b.example", "GET", "/q", "service_b", "/**"},
		{"wildcard deep", "y.x.b.example", "GET", "/q", "service_b", "/**"},
		{"wildcard not apex", "b.example", "GET", "/q", "", ""},
		{"second prefix", "api.shop.example", "GET", "/b/q", "service_b", "/**"},
		{"unknown host", "c.shop.example", "GET", "/", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tb.Lookup(tc.host, tc.method, tc.path)
			svc, pat := "", ""
			if m.Service >= 0 {
				svc = tb.ServiceName(m.Service)
			}
			if m.Rule >= 0 {
				pat = tb.RoutePattern(m.Rule)
			}
			if svc != tc.service || pat != tc.pattern {
				t.Errorf("Lookup(%q, %q, %q) = %q %q, want %q %q", tc.host, tc.method, tc.path, svc, pat, tc.service, tc.pattern)
			}
		})
	}
}

// TestLookupWide: a node with many literal children and a table with
// many mounts are searched one by one up to linearMax entries and by
// halves past it; both find every entry and nothing between them.
func TestLookupWide(t *testing.T) {
	for _, n := range []int{linearMax, linearMax + 1, 3 * linearMax} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			spec := &Spec{}
			for i := range n {
				var routes []RouteSpec
				for j := range n {
					routes = append(routes, route("/r"+strconv.Itoa(j)+"/x", 1, 0, j+1))
				}
				spec.Services = append(spec.Services, ServiceSpec{
					Name:   "s" + strconv.Itoa(i),
					Mounts: []Mount{{"h" + strconv.Itoa(i) + ".example", "/"}},
					Routes: routes,
				})
			}
			tb := mustBuild(t, spec)
			if len(tb.mounts) != n || tb.nodes[tb.tries[0].start].edgeCount != uint32(n) {
				t.Fatalf("%d mounts, %d children of the root, want %d", len(tb.mounts), tb.nodes[tb.tries[0].start].edgeCount, n)
			}
			for i := range n {
				host := "h" + strconv.Itoa(i) + ".example"
				for j := range n {
					m := tb.Lookup(host, "GET", "/r"+strconv.Itoa(j)+"/x")
					if m.Service != i || m.Rule < 0 || tb.RoutePattern(m.Rule) != "/r"+strconv.Itoa(j)+"/x" {
						t.Fatalf("%s /r%d/x: %+v", host, j, m)
					}
				}
				for _, miss := range []string{"/r", "/r" + strconv.Itoa(n) + "/x", "/r1x/x", "/q/x", "/s/x"} {
					if m := tb.Lookup(host, "GET", miss); m.Service != i || m.Rule >= 0 {
						t.Errorf("%s %s: %+v, want the service and no route", host, miss, m)
					}
				}
			}
			for _, miss := range []string{"h.example", "h" + strconv.Itoa(n) + ".example", "h1.exampl", "a.example", "z.example"} {
				if m := tb.Lookup(miss, "GET", "/r0/x"); m.Service >= 0 {
					t.Errorf("%s: %+v, want no service", miss, m)
				}
			}
		})
	}
}

func TestGranted(t *testing.T) {
	tb := mustBuild(t, exampleSpec())
	var support, zeta RoleBits
	support.Set(tb.RoleIndex("support"))
	zeta.Set(tb.RoleIndex("zeta"))
	tests := []struct {
		name, method, path string
		roles              RoleBits
		want               bool
	}{
		{"trie grant", "GET", "/a/tickets/1", support, true},
		{"trie grant wrong method", "POST", "/a/tickets/1", support, false},
		{"trie grant other role", "GET", "/a/tickets/1", zeta, false},
		{"regex grant", "DELETE", "/b/x12", support, true},
		{"regex anchored", "GET", "/b/x12/y", support, false},
		{"no roles", "GET", "/a/tickets/1", RoleBits{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tb.Granted(tc.method, tc.path, tc.roles); got != tc.want {
				t.Errorf("Granted = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRoleIndexSorted(t *testing.T) {
	tb := mustBuild(t, exampleSpec())
	if got := tb.RoleIndex("support"); got != 0 {
		t.Errorf("support = %d, want 0 (roles are sorted)", got)
	}
	if got := tb.RoleIndex("nope"); got != -1 {
		t.Errorf("unknown role = %d, want -1", got)
	}
}

func TestDeterministic(t *testing.T) {
	a := mustBuild(t, exampleSpec()).Encode()
	for range 5 {
		if b := mustBuild(t, exampleSpec()).Encode(); !bytes.Equal(a, b) {
			t.Fatal("two builds of one spec differ")
		}
	}
	tb, err := Decode(a)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tb.Encode(), a) {
		t.Fatal("decode+encode changed the bytes")
	}
}

func TestBuildErrors(t *testing.T) {
	tie := exampleSpec()
	tie.Services[0].Routes = append(tie.Services[0].Routes, route("/auth", 2, 0, 9))
	methodTie := exampleSpec()
	methodTie.Services[0].Routes = append(methodTie.Services[0].Routes, route("/admin/**", 2, MethodPost, 9))
	rest := exampleSpec()
	rest.Services[0].Routes = append(rest.Services[0].Routes, RouteSpec{Pattern: "/**/x", Segments: segs("/**/x")})
	twice := exampleSpec()
	twice.Services[1].Mounts = append(twice.Services[1].Mounts, Mount{"a.shop.example", "/"})
	prefix := exampleSpec()
	prefix.Services[1].Mounts[0].Prefix = "/b/"
	tests := []struct {
		name string
		spec *Spec
		want string
	}{
		{"tie", tie, `table: service "service_a": routes "/auth" tie`},
		{"method tie", methodTie, `table: service "service_a": routes "/admin/**" tie on methods POST`},
		{"rest not last", rest, `table: service "service_a": route "/**/x": ** must be the last segment`},
		{"mounted twice", twice, `table: host "a.shop.example" prefix "/" is mounted twice`},
		{"bad prefix", prefix, `table: service "service_b": bad prefix "/b/"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.spec)
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v, want %s", err, tc.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	good := mustBuild(t, exampleSpec()).Encode()
	content := good[headerSize:]
	version := bytes.Clone(good)
	version[4] = 9
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name string
		data []byte
		is   error
		want string
	}{
		{"empty", nil, ErrBadMagic, "table: bad magic"},
		{"magic", []byte("KCDX...."), ErrBadMagic, "table: bad magic"},
		{"short", []byte("KCDT"), ErrCorrupt, "table: corrupt: 4 bytes, header needs 42"},
		{"version", version, ErrVersion, "table: unsupported format version: 9 (this build reads 1)"},
		{"length", good[:len(good)-1], ErrCorrupt, "table: corrupt: content is " + strconv.Itoa(len(content)-1) + " bytes, header says " + strconv.Itoa(len(content))},
		{"hash", flipped, ErrCorrupt, "table: corrupt: content hash mismatch"},
		{"truncated content", seal(content[:10]), ErrCorrupt, ""},
		{"trailing bytes", seal(append(bytes.Clone(content), 0)), ErrCorrupt, "table: corrupt: 1 bytes after the last section"},
		{"huge count", seal([]byte{0xff, 0xff, 0xff, 0x07}), ErrCorrupt, "table: corrupt: at byte 4: 16777215 strings cannot fit in 0 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.data)
			if !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			if tc.want != "" && err.Error() != tc.want {
				t.Errorf("err = %q, want %q", err, tc.want)
			}
		})
	}
}
