package table

import "strings"

// Match is the result of Lookup.
type Match struct {
	Service int    // index of the service, or -1 when no mount matches
	Rule    int    // index of the route (see Table.Rule), or -1 when none matches
	Prefix  string // the mount prefix that selected the service
}

// Lookup finds the service mounted at host (already lower-cased, without
// port or trailing dot) whose prefix is the longest that path starts with,
// then the most specific route of that service for method and path (a
// normalised absolute path). It does not allocate.
func (t *Table) Lookup(host, method, path string) Match {
	svc, prefix := t.findMount(host, path)
	if svc < 0 {
		return Match{Service: -1, Rule: -1}
	}
	rest := path[len(prefix):]
	if prefix == "/" {
		rest = path
	}
	m := ParseMethod(method)
	rule := t.match(t.tries[t.services[svc].trie].start, rest, m)
	return Match{Service: svc, Rule: rule, Prefix: prefix}
}

// findMount tries the exact host, then each wildcard "*.suffix" from the
// longest suffix to the shortest.
func (t *Table) findMount(host, path string) (int, string) {
	if s, p := t.mountsFor("", host, path); s >= 0 {
		return s, p
	}
	for i := 0; i < len(host); i++ {
		if host[i] == '.' {
			if s, p := t.mountsFor("*", host[i:], path); s >= 0 {
				return s, p
			}
		}
	}
	return -1, ""
}

// mountsFor looks at the mounts whose host is head+tail; within one host
// they are sorted longest prefix first.
func (t *Table) mountsFor(head, tail, path string) (int, string) {
	lo := len(t.mounts)
	if lo <= linearMax {
		for i := range t.mounts {
			if isJoined(t.strs[t.mounts[i].host], head, tail) {
				lo = i
				break
			}
		}
	} else if lo = t.firstMount(head, tail); lo < len(t.mounts) && !isJoined(t.strs[t.mounts[lo].host], head, tail) {
		return -1, ""
	}
	// From lo on, while the host is head+tail.
	for i := lo; i < len(t.mounts); i++ {
		m := t.mounts[i]
		if i > lo && t.mounts[i-1].host != m.host && !isJoined(t.strs[m.host], head, tail) {
			break // the next host (mounts of one host share its string)
		}
		p := t.strs[m.prefix]
		if p == "/" || path == p || (strings.HasPrefix(path, p) && path[len(p)] == '/') {
			return int(m.service), p
		}
	}
	return -1, ""
}

// linearMax is the most entries (a node's literal children, a table's
// mounts) searched one by one: inside wasm, where string comparison has
// no assembly, comparing lengths before bytes beats a binary search of
// three-way comparisons until the list is some dozens long.
const linearMax = 8

// firstMount is the index of the first mount whose host is head+tail or
// sorts after it.
func (t *Table) firstMount(head, tail string) int {
	lo, hi := 0, len(t.mounts)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if compareJoined(t.strs[t.mounts[mid].host], head, tail) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// isJoined reports whether s is head+tail, without building the string.
func isJoined(s, head, tail string) bool {
	return len(s) == len(head)+len(tail) && (head == "" || s[:len(head)] == head) && s[len(head):] == tail
}

// compareJoined compares s with head+tail without building the string.
func compareJoined(s, head, tail string) int {
	n := min(len(s), len(head))
	if c := strings.Compare(s[:n], head[:n]); c != 0 {
		return c
	}
	if len(s) < len(head) {
		return -1
	}
	return strings.Compare(s[len(head):], tail)
}

// match walks the trie depth-first: at each segment a literal child before
// the {param} child before the node's ** rules, so the first full match is
// the most specific one. Each node is visited at most once.
func (t *Table) match(n uint32, path string, m MethodSet) int {
	seg, rest, last := nextSegment(path)
	nd := &t.nodes[n]
	if last {
		if r := t.pick(nd.exactStart, nd.exactCount, m); r >= 0 {
			return r
		}
	} else {
		if c, ok := t.child(nd, seg); ok {
			if r := t.match(c, rest, m); r >= 0 {
				return r
			}
		}
		if nd.param >= 0 && seg != "" {
			if r := t.match(uint32(nd.param), rest, m); r >= 0 {
				return r
			}
		}
	}
	return t.pick(nd.restStart, nd.restCount, m)
}

// nextSegment splits "/seg/rest" into "seg" and "/rest". last is true when
// no segment is left: "" or "/" (a trailing slash does not make a segment).
func nextSegment(path string) (seg, rest string, last bool) {
	if len(path) <= 1 {
		return "", "", true
	}
	p := path[1:]
	// A loop, not strings.IndexByte: a segment is a few bytes, and inside
	// wasm IndexByte is two calls.
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			return p[:i], p[i:], false
		}
	}
	return p, "", false
}

// child finds a node's literal child for seg; the children are sorted.
func (t *Table) child(nd *node, seg string) (uint32, bool) {
	es := t.edges[nd.edgeStart : nd.edgeStart+nd.edgeCount]
	if len(es) <= linearMax {
		for _, e := range es {
			if s := t.strs[e.lit]; sameString(s, seg) {
				return e.child, true
			}
		}
		return 0, false
	}
	lo, hi := 0, len(es)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		switch c := strings.Compare(t.strs[es[mid].lit], seg); {
		case c == 0:
			return es[mid].child, true
		case c < 0:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return 0, false
}

// sameString is s == seg for short strings, compared in place: inside
// wasm == is two calls (memequal, memeqbody) once the lengths agree.
func sameString(s, seg string) bool {
	if len(s) != len(seg) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != seg[i] {
			return false
		}
	}
	return true
}

func (t *Table) pick(start, count uint32, m MethodSet) int {
	for i := start; i < start+count; i++ {
		if t.rules[t.refs[i].rule].Methods.Allows(m) {
			return int(i)
		}
	}
	return -1
}

// Granted reports whether a role permission of one of roles covers method
// and the full request path (before any mount prefix is removed). It does
// not allocate.
func (t *Table) Granted(method, path string, roles RoleBits) bool {
	return t.GrantedIf(method, path, roles, nil)
}

// GrantedIf is Granted counting only the path permissions that accept
// takes (nil takes all): the filter's test of a permission's scopes.
// Permissions by regular expression are not offered to accept.
func (t *Table) GrantedIf(method, path string, roles RoleBits, accept func(Rule) bool) bool {
	if roles.Empty() {
		return false
	}
	m := ParseMethod(method)
	if t.grants >= 0 && t.grantWalk(t.tries[t.grants].start, path, m, roles, accept) {
		return true
	}
	for i := range t.regexes {
		g := &t.regexes[i]
		if g.methods.Allows(m) && t.roleSets[g.roleSet].Intersects(roles) && g.re.MatchString(path) {
			return true
		}
	}
	return false
}

// grantWalk is match for grants: any matching rule whose roles intersect
// grants, so it keeps looking past a match that does not.
func (t *Table) grantWalk(n uint32, path string, m MethodSet, roles RoleBits, accept func(Rule) bool) bool {
	seg, rest, last := nextSegment(path)
	nd := &t.nodes[n]
	if last {
		if t.anyGrant(nd.exactStart, nd.exactCount, m, roles, accept) {
			return true
		}
	} else {
		if c, ok := t.child(nd, seg); ok && t.grantWalk(c, rest, m, roles, accept) {
			return true
		}
		if nd.param >= 0 && seg != "" && t.grantWalk(uint32(nd.param), rest, m, roles, accept) {
			return true
		}
	}
	return t.anyGrant(nd.restStart, nd.restCount, m, roles, accept)
}

func (t *Table) anyGrant(start, count uint32, m MethodSet, roles RoleBits, accept func(Rule) bool) bool {
	for i := start; i < start+count; i++ {
		r := &t.rules[t.refs[i].rule]
		if !r.Methods.Allows(m) || !t.roleSets[r.RoleSet].Intersects(roles) {
			continue
		}
		if accept == nil {
			return true
		}
		rule := *r // rules are shared; the permission's line is its ref's
		rule.Line = t.refs[i].line
		if accept(rule) {
			return true
		}
	}
	return false
}
