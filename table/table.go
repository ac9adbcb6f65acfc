package table

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Table is a decoded (or freshly built) decision table. It is immutable and
// safe for concurrent use.
type Table struct {
	hash     [32]byte
	strs     []string
	roles    []uint32 // string ids, sorted by name
	roleSets []RoleBits
	rules    []Rule // distinct requirements; Line is zero here
	tries    []trie
	nodes    []node
	edges    []edge
	refs     []ruleRef
	services []service
	mounts   []mount
	grants   int32 // trie of the role permissions, or -1
	regexes  []regexGrant
}

// trie is a block of nodes in breadth-first order; its root is first.
type trie struct{ start, count uint32 }

// node is the decoded form of a trie node. On the wire a node holds only
// its edge count, whether it has a {param} child, its rule counts, its
// edge labels and its rule references: the rest follows from the
// breadth-first order (see docs/table-format.md).
type node struct {
	edgeStart, edgeCount   uint32
	param                  int32 // child for {param}, or -1
	exactStart, exactCount uint32
	restStart, restCount   uint32
	parent                 int32  // for RoutePattern
	label                  uint32 // string id of the edge from the parent; paramLabel for {param}
}

const paramLabel = ^uint32(0)

type edge struct {
	lit   uint32 // string id
	child uint32
}

// ruleRef is one route: the rule it requires and its source line.
type ruleRef struct {
	rule, line uint32
	node       uint32 // decoded only
	rest       bool   // decoded only: a ** route
}

type service struct {
	name uint32
	trie uint32
	def  Default
}

type mount struct {
	host, prefix uint32
	service      uint32
}

type regexGrant struct {
	pattern uint32
	methods MethodSet
	roleSet uint16
	re      *regexp.Regexp
}

// Hash is the SHA-256 of the encoded content: the table's identity.
func (t *Table) Hash() [32]byte { return t.hash }

// NumServices is the number of services.
func (t *Table) NumServices() int { return len(t.services) }

// ServiceName is service i's name.
func (t *Table) ServiceName(i int) string { return t.strs[t.services[i].name] }

// ServiceDefault is what service i does with a path no route matches.
func (t *Table) ServiceDefault(i int) Default { return t.services[i].def }

// NumRoutes is the number of routes and path grants.
func (t *Table) NumRoutes() int { return len(t.refs) }

// Rule returns what route i (a Match.Rule) requires.
func (t *Table) Rule(i int) Rule {
	r := t.rules[t.refs[i].rule]
	r.Line = t.refs[i].line
	return r
}

// RoutePattern renders route i's pattern with parameters unnamed, such as
// /admin/{}/**. It allocates: for explain and logs, not the request path.
func (t *Table) RoutePattern(i int) string {
	ref := t.refs[i]
	var segs []string
	for n := int32(ref.node); t.nodes[n].parent >= 0; n = t.nodes[n].parent {
		if l := t.nodes[n].label; l == paramLabel {
			segs = append(segs, "{}")
		} else {
			segs = append(segs, t.strs[l])
		}
	}
	slices.Reverse(segs)
	if ref.rest {
		segs = append(segs, "**")
	}
	return "/" + strings.Join(segs, "/")
}

// RoleSet returns role set i.
func (t *Table) RoleSet(i uint16) RoleBits { return t.roleSets[i] }

// Roles lists the policy's role names, sorted.
func (t *Table) Roles() []string {
	out := make([]string, len(t.roles))
	for i, id := range t.roles {
		out[i] = t.strs[id]
	}
	return out
}

// RoleIndex returns the bit of a role name, or -1 when the policy does not
// know it.
func (t *Table) RoleIndex(name string) int {
	i, ok := slices.BinarySearchFunc(t.roles, name, func(id uint32, n string) int {
		return strings.Compare(t.strs[id], n)
	})
	if !ok {
		return -1
	}
	return i
}

// Build turns a checked Spec into a Table. Role names are sorted so that a
// role's bit does not depend on declaration order; Spec role bits refer to
// Spec.Roles order and are remapped.
func Build(spec *Spec) (*Table, error) {
	if len(spec.Roles) > MaxRoles {
		return nil, fmt.Errorf("table: %d roles, at most %d", len(spec.Roles), MaxRoles)
	}
	b := &builder{t: &Table{grants: -1}, ids: map[string]uint32{}, sets: map[RoleBits]uint16{}, ruleIDs: map[Rule]uint32{}}
	b.str("")
	b.t.roleSets = []RoleBits{{}}
	b.sets[RoleBits{}] = 0

	sorted := slices.Clone(spec.Roles)
	slices.Sort(sorted)
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return nil, fmt.Errorf("table: duplicate role %q", sorted[i])
		}
	}
	b.remap = make([]int, len(spec.Roles))
	for i, r := range spec.Roles {
		b.remap[i], _ = slices.BinarySearch(sorted, r)
	}
	for _, r := range sorted {
		b.t.roles = append(b.t.roles, b.str(r))
	}

	type mountRef struct {
		Mount
		svc int
	}
	var mounts []mountRef
	for si, s := range spec.Services {
		if s.Default >= defaultCount {
			return nil, fmt.Errorf("table: service %q: bad default %d", s.Name, s.Default)
		}
		tr, err := b.trie(s.Routes, false)
		if err != nil {
			return nil, fmt.Errorf("table: service %q: %w", s.Name, err)
		}
		b.t.services = append(b.t.services, service{name: b.str(s.Name), trie: tr, def: s.Default})
		for _, m := range s.Mounts {
			if !validPrefix(m.Prefix) {
				return nil, fmt.Errorf("table: service %q: bad prefix %q", s.Name, m.Prefix)
			}
			mounts = append(mounts, mountRef{m, si})
		}
	}
	slices.SortStableFunc(mounts, func(a, b mountRef) int {
		return cmp.Or(strings.Compare(a.Host, b.Host), cmp.Compare(len(b.Prefix), len(a.Prefix)), strings.Compare(a.Prefix, b.Prefix))
	})
	for i, m := range mounts {
		if i > 0 && mounts[i-1].Mount == m.Mount {
			return nil, fmt.Errorf("table: host %q prefix %q is mounted twice", m.Host, m.Prefix)
		}
		b.t.mounts = append(b.t.mounts, mount{host: b.str(m.Host), prefix: b.str(m.Prefix), service: uint32(m.svc)})
	}

	var pathGrants []RouteSpec
	for _, g := range spec.Grants {
		if g.Regex != "" {
			if _, err := regexp.Compile(g.Regex); err != nil {
				return nil, fmt.Errorf("table: grant %q: %w", g.Pattern, err)
			}
			b.t.regexes = append(b.t.regexes, regexGrant{pattern: b.str(g.Regex), methods: g.Methods, roleSet: b.roleSet(g.Roles)})
			continue
		}
		pathGrants = append(pathGrants, RouteSpec{Pattern: g.Pattern, Segments: g.Segments, Methods: g.Methods, Roles: g.Roles, Line: g.Line})
	}
	if len(pathGrants) > 0 {
		tr, err := b.trie(pathGrants, true)
		if err != nil {
			return nil, fmt.Errorf("table: grants: %w", err)
		}
		b.t.grants = int32(tr)
	}
	if len(b.t.roleSets) > maxRoleSets {
		return nil, fmt.Errorf("table: %d distinct role sets, at most %d", len(b.t.roleSets), maxRoleSets)
	}
	return Decode(b.t.Encode()) // the built table is exactly what a reader sees
}

func validPrefix(p string) bool {
	if p == "/" {
		return true
	}
	return strings.HasPrefix(p, "/") && !strings.HasSuffix(p, "/") && !strings.Contains(p, "//")
}

type builder struct {
	t       *Table
	ids     map[string]uint32
	sets    map[RoleBits]uint16
	ruleIDs map[Rule]uint32
	remap   []int
}

func (b *builder) str(s string) uint32 { return intern(b.ids, &b.t.strs, s) }

func (b *builder) roleSet(spec RoleBits) uint16 {
	var rb RoleBits
	for i := range b.remap {
		if spec.Has(i) {
			rb.Set(b.remap[i])
		}
	}
	return intern(b.sets, &b.t.roleSets, rb)
}

func (b *builder) rule(r Rule) uint32 { return intern(b.ruleIDs, &b.t.rules, r) }

// intern gives v's index in *list, appending v the first time: each
// distinct string, role set and rule is stored once.
func intern[V comparable, I uint16 | uint32](ids map[V]I, list *[]V, v V) I {
	if id, ok := ids[v]; ok {
		return id
	}
	id := I(len(*list))
	*list = append(*list, v)
	ids[v] = id
	return id
}

// tnode is the pointer form of a trie node while it is being built.
type tnode struct {
	lits  map[string]*tnode
	param *tnode
	exact []*RouteSpec
	rest  []*RouteSpec
}

// trie builds one trie and lays it out breadth-first: a node's children
// are numbered in a row, literal children (sorted) before the {param}
// child, so the layout needs no child indices.
func (b *builder) trie(routes []RouteSpec, grants bool) (uint32, error) {
	root := &tnode{}
	for i := range routes {
		r := &routes[i]
		n := root
		for j, s := range r.Segments {
			switch s.Kind {
			case SegLiteral:
				if n.lits == nil {
					n.lits = map[string]*tnode{}
				}
				c := n.lits[s.Lit]
				if c == nil {
					c = &tnode{}
					n.lits[s.Lit] = c
				}
				n = c
			case SegParam:
				if n.param == nil {
					n.param = &tnode{}
				}
				n = n.param
			case SegRest:
				if j != len(r.Segments)-1 {
					return 0, fmt.Errorf("route %q: ** must be the last segment", r.Pattern)
				}
			}
		}
		if len(r.Segments) > 0 && r.Segments[len(r.Segments)-1].Kind == SegRest {
			n.rest = append(n.rest, r)
		} else {
			n.exact = append(n.exact, r)
		}
	}
	start := uint32(len(b.t.nodes))
	// A route adds at most one node per segment; the real count is
	// usually close to one per route, and growing once saves the copies.
	b.t.nodes = slices.Grow(b.t.nodes, len(routes)+1)
	b.t.edges = slices.Grow(b.t.edges, len(routes))
	b.t.refs = slices.Grow(b.t.refs, len(routes))
	queue := make([]*tnode, 1, len(routes)+1)
	queue[0] = root
	for qi := 0; qi < len(queue); qi++ {
		tn := queue[qi]
		nd := node{param: -1}
		keys := make([]string, 0, len(tn.lits))
		for k := range tn.lits {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		nd.edgeStart, nd.edgeCount = uint32(len(b.t.edges)), uint32(len(keys))
		for _, k := range keys {
			b.t.edges = append(b.t.edges, edge{lit: b.str(k)})
			queue = append(queue, tn.lits[k])
		}
		if tn.param != nil {
			nd.param = 0 // any value >= 0: present
			queue = append(queue, tn.param)
		}
		var err error
		if nd.exactStart, nd.exactCount, err = b.refs(tn.exact, grants); err != nil {
			return 0, err
		}
		if nd.restStart, nd.restCount, err = b.refs(tn.rest, grants); err != nil {
			return 0, err
		}
		b.t.nodes = append(b.t.nodes, nd)
	}
	b.t.tries = append(b.t.tries, trie{start: start, count: uint32(len(queue))})
	return uint32(len(b.t.tries) - 1), nil
}

// refs appends a node's routes: routes naming methods first (their sets
// are disjoint), then at most one route for any method. Grants may
// overlap: any matching grant grants.
func (b *builder) refs(rs []*RouteSpec, grants bool) (start, count uint32, err error) {
	if len(rs) > 1 { // most nodes end one route or none
		rs = slices.Clone(rs)
		slices.SortStableFunc(rs, func(x, y *RouteSpec) int {
			return cmp.Compare(boolInt(x.Methods == 0), boolInt(y.Methods == 0))
		})
	}
	var seen MethodSet
	anyMethod := false
	for _, r := range rs {
		if grants {
			break
		}
		if r.Methods == 0 {
			if anyMethod {
				return 0, 0, fmt.Errorf("routes %q tie", r.Pattern)
			}
			anyMethod = true
		} else if seen&r.Methods != 0 {
			return 0, 0, fmt.Errorf("routes %q tie on methods %s", r.Pattern, seen&r.Methods)
		}
		seen |= r.Methods
	}
	start = uint32(len(b.t.refs))
	for _, r := range rs {
		if r.Level > 0 && r.Flags&FlagPublic != 0 {
			return 0, 0, fmt.Errorf("route %q: public with level %d", r.Pattern, r.Level)
		}
		id := b.rule(Rule{Level: r.Level, Flags: r.Flags, Methods: r.Methods, RoleSet: b.roleSet(r.Roles)})
		b.t.refs = append(b.t.refs, ruleRef{rule: id, line: uint32(r.Line)})
	}
	return start, uint32(len(rs)), nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
