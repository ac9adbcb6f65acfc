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
	rules    []Rule
	nodes    []node
	edges    []edge
	services []service
	mounts   []mount
	grants   int32 // root node of the grant trie, or -1
	regexes  []regexGrant
}

type node struct {
	edgeStart, edgeCount   uint32
	param                  int32 // child for {name}, or -1
	exactStart, exactCount uint32
	restStart, restCount   uint32
}

type edge struct {
	lit   uint32 // string id
	child uint32
}

type service struct {
	name uint32
	root uint32
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

// Str returns string id i.
func (t *Table) Str(i uint32) string { return t.strs[i] }

// NumServices is the number of services.
func (t *Table) NumServices() int { return len(t.services) }

// ServiceName is service i's name.
func (t *Table) ServiceName(i int) string { return t.strs[t.services[i].name] }

// ServiceDefault is what service i does with a path no route matches.
func (t *Table) ServiceDefault(i int) Default { return t.services[i].def }

// NumRules is the number of route and grant rules.
func (t *Table) NumRules() int { return len(t.rules) }

// Rule returns rule i.
func (t *Table) Rule(i int) Rule { return t.rules[i] }

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
	b := &builder{t: &Table{grants: -1}, ids: map[string]uint32{}, sets: map[RoleBits]uint16{}}
	b.str("")
	b.t.roleSets = []RoleBits{{}}
	b.sets[RoleBits{}] = 0

	sorted := slices.Clone(spec.Roles)
	slices.Sort(sorted)
	remap := make([]int, len(spec.Roles))
	for i, r := range spec.Roles {
		j, _ := slices.BinarySearch(sorted, r)
		remap[i] = j
		if i > 0 && slices.Contains(spec.Roles[:i], r) {
			return nil, fmt.Errorf("table: duplicate role %q", r)
		}
	}
	for _, r := range sorted {
		b.t.roles = append(b.t.roles, b.str(r))
	}
	b.remap = remap

	type mountRef struct {
		Mount
		svc int
	}
	var mounts []mountRef
	for si, s := range spec.Services {
		if s.Default >= defaultCount {
			return nil, fmt.Errorf("table: service %q: bad default %d", s.Name, s.Default)
		}
		root, err := b.trie(s.Routes, nil)
		if err != nil {
			return nil, fmt.Errorf("table: service %q: %w", s.Name, err)
		}
		b.t.services = append(b.t.services, service{name: b.str(s.Name), root: root, def: s.Default})
		for _, m := range s.Mounts {
			if !validPrefix(m.Prefix) {
				return nil, fmt.Errorf("table: service %q: bad prefix %q", s.Name, m.Prefix)
			}
			mounts = append(mounts, mountRef{m, si})
		}
	}
	slices.SortStableFunc(mounts, func(a, b mountRef) int {
		if c := strings.Compare(a.Host, b.Host); c != 0 {
			return c
		}
		if c := cmp.Compare(len(b.Prefix), len(a.Prefix)); c != 0 {
			return c
		}
		return strings.Compare(a.Prefix, b.Prefix)
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
			re, err := regexp.Compile(g.Regex)
			if err != nil {
				return nil, fmt.Errorf("table: grant %q: %w", g.Pattern, err)
			}
			b.t.regexes = append(b.t.regexes, regexGrant{pattern: b.str(g.Regex), methods: g.Methods, roleSet: b.roleSet(g.Roles), re: re})
			continue
		}
		pathGrants = append(pathGrants, RouteSpec{Pattern: g.Pattern, Segments: g.Segments, Methods: g.Methods, Roles: g.Roles, Line: g.Line})
	}
	if len(pathGrants) > 0 {
		root, err := b.trie(pathGrants, b.mergeGrant)
		if err != nil {
			return nil, fmt.Errorf("table: grants: %w", err)
		}
		b.t.grants = int32(root)
	}
	enc := b.t.Encode()
	return Decode(enc) // the built table is exactly what a reader will see
}

func validPrefix(p string) bool {
	if p == "/" {
		return true
	}
	return strings.HasPrefix(p, "/") && !strings.HasSuffix(p, "/") && !strings.Contains(p, "//")
}

type builder struct {
	t     *Table
	ids   map[string]uint32
	sets  map[RoleBits]uint16
	remap []int
}

func (b *builder) str(s string) uint32 {
	if id, ok := b.ids[s]; ok {
		return id
	}
	id := uint32(len(b.t.strs))
	b.t.strs = append(b.t.strs, s)
	b.ids[s] = id
	return id
}

func (b *builder) roleSet(spec RoleBits) uint16 {
	var rb RoleBits
	for i := range b.remap {
		if spec.Has(i) {
			rb.Set(b.remap[i])
		}
	}
	if id, ok := b.sets[rb]; ok {
		return id
	}
	id := uint16(len(b.t.roleSets))
	b.t.roleSets = append(b.t.roleSets, rb)
	b.sets[rb] = id
	return id
}

// tnode is the pointer form of a trie node while it is being built.
type tnode struct {
	lits  map[string]*tnode
	param *tnode
	exact []*RouteSpec
	rest  []*RouteSpec
}

// trie builds the routes' trie and flattens it breadth-first, so a child
// always has a larger index than its parent (the decoder relies on it).
// merge, when set, folds routes with the same pattern and methods into one
// rule (grants); otherwise such routes are an error (the compiler reports
// ties with positions before it gets here).
func (b *builder) trie(routes []RouteSpec, merge func([]*RouteSpec) []*RouteSpec) (uint32, error) {
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
	queue := []*tnode{root}
	base := uint32(len(b.t.nodes))
	b.t.nodes = append(b.t.nodes, node{})
	next := base + 1
	for qi := 0; qi < len(queue); qi++ {
		tn := queue[qi]
		idx := base + uint32(qi)
		nd := node{param: -1}
		keys := make([]string, 0, len(tn.lits))
		for k := range tn.lits {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		nd.edgeStart = uint32(len(b.t.edges))
		nd.edgeCount = uint32(len(keys))
		for _, k := range keys {
			b.t.edges = append(b.t.edges, edge{lit: b.str(k), child: next})
			b.t.nodes = append(b.t.nodes, node{})
			queue = append(queue, tn.lits[k])
			next++
		}
		if tn.param != nil {
			nd.param = int32(next)
			b.t.nodes = append(b.t.nodes, node{})
			queue = append(queue, tn.param)
			next++
		}
		var err error
		if nd.exactStart, nd.exactCount, err = b.rules(tn.exact, merge); err != nil {
			return 0, err
		}
		if nd.restStart, nd.restCount, err = b.rules(tn.rest, merge); err != nil {
			return 0, err
		}
		b.t.nodes[idx] = nd
	}
	return base, nil
}

// rules appends a node's rules: routes naming methods first (their sets are
// disjoint), then at most one route for any method.
func (b *builder) rules(rs []*RouteSpec, merge func([]*RouteSpec) []*RouteSpec) (start, count uint32, err error) {
	if merge != nil {
		rs = merge(rs)
	}
	rs = slices.Clone(rs)
	slices.SortStableFunc(rs, func(x, y *RouteSpec) int {
		return cmp.Compare(boolInt(x.Methods == 0), boolInt(y.Methods == 0))
	})
	var seen MethodSet
	anyMethod := false
	for _, r := range rs {
		if merge != nil {
			break // grants may overlap: any matching grant grants
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
	start = uint32(len(b.t.rules))
	for _, r := range rs {
		if r.Level > 0 && r.Flags&FlagPublic != 0 {
			return 0, 0, fmt.Errorf("route %q: public with level %d", r.Pattern, r.Level)
		}
		b.t.rules = append(b.t.rules, Rule{
			Level: r.Level, Flags: r.Flags, Methods: r.Methods,
			RoleSet: b.roleSet(r.Roles), Pattern: b.str(r.Pattern), Line: uint32(r.Line),
		})
	}
	return start, uint32(len(rs)), nil
}

// mergeGrant folds grants with the same pattern and methods into one rule
// whose role set is their union.
func (b *builder) mergeGrant(rs []*RouteSpec) []*RouteSpec {
	var out []*RouteSpec
	for _, r := range rs {
		merged := false
		for _, o := range out {
			if o.Methods == r.Methods {
				for i := range o.Roles {
					o.Roles[i] |= r.Roles[i]
				}
				merged = true
				break
			}
		}
		if !merged {
			c := *r
			out = append(out, &c)
		}
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
