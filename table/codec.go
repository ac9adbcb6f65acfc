package table

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// headerSize is magic (4) + version (2) + content length (4) + SHA-256 (32).
const headerSize = 4 + 2 + 4 + 32

// Limits that keep a hostile table from asking for huge allocations before
// it has bytes to back them, and bound the regex compile work.
const (
	maxCount  = 1 << 24
	maxRegexp = 4096
	// maxRoleSets: a rule names its role set with 16 bits.
	maxRoleSets = 1 << 16
)

// Encode writes the table in the format of docs/table-format.md. The same
// table always gives the same bytes.
func (t *Table) Encode() []byte {
	var w writer
	w.uv(uint64(len(t.strs)))
	for _, s := range t.strs {
		w.uv(uint64(len(s)))
		w.b = append(w.b, s...)
	}
	w.uv(uint64(len(t.roles)))
	for _, r := range t.roles {
		w.uv(uint64(r))
	}
	w.uv(uint64(len(t.roleSets)))
	for _, s := range t.roleSets {
		for _, word := range s {
			w.uv(word)
		}
	}
	w.uv(uint64(len(t.rules)))
	for _, r := range t.rules {
		w.uv(uint64(r.Level), uint64(r.Flags), uint64(r.Methods), uint64(r.RoleSet))
	}
	w.uv(uint64(len(t.tries)))
	for _, tr := range t.tries {
		w.uv(uint64(tr.count))
		for _, n := range t.nodes[tr.start : tr.start+tr.count] {
			head := uint64(n.edgeCount) << 2
			if n.param >= 0 {
				head |= 2
			}
			rules := n.exactCount+n.restCount > 0
			if rules {
				head |= 1
			}
			w.uv(head)
			if rules {
				w.uv(uint64(n.exactCount), uint64(n.restCount))
			}
			for _, e := range t.edges[n.edgeStart : n.edgeStart+n.edgeCount] {
				w.uv(uint64(e.lit))
			}
			for _, r := range t.refs[n.exactStart : n.exactStart+n.exactCount] {
				w.uv(uint64(r.rule), uint64(r.line))
			}
			for _, r := range t.refs[n.restStart : n.restStart+n.restCount] {
				w.uv(uint64(r.rule), uint64(r.line))
			}
		}
	}
	w.uv(uint64(len(t.services)))
	for _, s := range t.services {
		w.uv(uint64(s.name), uint64(s.trie), uint64(s.def))
	}
	w.uv(uint64(len(t.mounts)))
	for _, m := range t.mounts {
		w.uv(uint64(m.host), uint64(m.prefix), uint64(m.service))
	}
	w.uv(uint64(t.grants + 1))
	w.uv(uint64(len(t.regexes)))
	for _, g := range t.regexes {
		w.uv(uint64(g.pattern), uint64(g.methods), uint64(g.roleSet))
	}
	return seal(w.b)
}

// seal puts the header (magic, version, length, checksum) before a
// table's content.
func seal(content []byte) []byte {
	out := make([]byte, headerSize, headerSize+len(content))
	copy(out, Magic)
	binary.LittleEndian.PutUint16(out[4:], Version)
	binary.LittleEndian.PutUint32(out[6:], uint32(len(content)))
	sum := sha256.Sum256(content)
	copy(out[10:], sum[:])
	return append(out, content...)
}

type writer struct{ b []byte }

// uv appends unsigned varints: one record's fields on one line.
func (w *writer) uv(vs ...uint64) {
	for _, v := range vs {
		w.b = binary.AppendUvarint(w.b, v)
	}
}

// Decode reads and validates an encoded table. Every error wraps
// ErrBadMagic, ErrVersion or ErrCorrupt.
func Decode(data []byte) (*Table, error) {
	if len(data) < 4 || string(data[:4]) != Magic {
		return nil, ErrBadMagic
	}
	if len(data) < headerSize {
		return nil, fmt.Errorf("%w: %d bytes, header needs %d", ErrCorrupt, len(data), headerSize)
	}
	if v := binary.LittleEndian.Uint16(data[4:]); v != Version {
		return nil, fmt.Errorf("%w: %d (this build reads %d)", ErrVersion, v, Version)
	}
	n := binary.LittleEndian.Uint32(data[6:])
	content := data[headerSize:]
	if uint64(n) != uint64(len(content)) {
		return nil, fmt.Errorf("%w: content is %d bytes, header says %d", ErrCorrupt, len(content), n)
	}
	sum := sha256.Sum256(content)
	if string(sum[:]) != string(data[10:headerSize]) {
		return nil, fmt.Errorf("%w: content hash mismatch", ErrCorrupt)
	}
	t, err := decodeContent(content)
	if err != nil {
		return nil, err
	}
	t.hash = sum
	return t, nil
}

type reader struct {
	all string // the content as one string: table strings are substrings of it
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: at byte %d: %s", ErrCorrupt, r.off, fmt.Sprintf(format, args...))
		r.off = len(r.all) // nothing more is read, and uv's fast path need not check err
	}
}

// uv reads a uvarint no larger than max. Most of a table's integers fit
// in one byte; that case is small enough to inline.
func (r *reader) uv(max uint64, what string) uint64 {
	if off := r.off; off < len(r.all) && r.all[off] < 0x80 && uint64(r.all[off]) <= max {
		r.off = off + 1
		return uint64(r.all[off])
	}
	return r.uvLong(max, what)
}

// uvLong is uv's general case: several bytes, or an error.
func (r *reader) uvLong(max uint64, what string) uint64 {
	if r.err != nil {
		return 0
	}
	var v uint64
	var shift uint
	for i := 0; ; i++ {
		if r.off >= len(r.all) {
			r.fail("truncated %s", what)
			return 0
		}
		c := r.all[r.off]
		r.off++
		if i == 9 && c > 1 {
			r.fail("%s overflows", what)
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
		shift += 7
	}
	if v > max {
		r.fail("%s %d out of range (max %d)", what, v, max)
		return 0
	}
	return v
}

// count reads an element count and checks that the remaining bytes could
// hold that many elements of at least min bytes each.
func (r *reader) count(min int, what string) int {
	n := int(r.uv(maxCount, what+" count"))
	if r.err == nil && n*min > len(r.all)-r.off {
		r.fail("%d %s cannot fit in %d bytes", n, what, len(r.all)-r.off)
		return 0
	}
	return n
}

// index reads an index into a list of n elements.
func (r *reader) index(n int, what string) uint32 {
	if n == 0 && r.err == nil {
		r.fail("%s: the list it points into is empty", what)
	}
	return uint32(r.uv(uint64(max(n-1, 0)), what))
}

func decodeContent(content []byte) (*Table, error) {
	r := &reader{all: string(content)}
	t := &Table{}

	t.strs = make([]string, r.count(1, "strings"))
	if r.err == nil && len(t.strs) == 0 {
		r.fail("empty string table")
	}
	for i := range t.strs {
		l := int(r.uv(uint64(len(r.all)), "string length"))
		if r.err == nil && l > len(r.all)-r.off {
			r.fail("string %d runs past the end", i)
		}
		if r.err != nil {
			return nil, r.err
		}
		t.strs[i] = r.all[r.off : r.off+l]
		r.off += l
	}

	t.roles = make([]uint32, r.count(1, "roles"))
	if len(t.roles) > MaxRoles {
		r.fail("%d roles, at most %d", len(t.roles), MaxRoles)
	}
	for i := range t.roles {
		t.roles[i] = r.index(len(t.strs), "role name")
		if i > 0 && r.err == nil && t.strs[t.roles[i-1]] >= t.strs[t.roles[i]] {
			r.fail("role names not sorted")
		}
	}
	t.roleSets = make([]RoleBits, r.count(len(RoleBits{}), "role sets"))
	for i := range t.roleSets {
		for j := range t.roleSets[i] {
			t.roleSets[i][j] = r.uv(^uint64(0), "role set word")
		}
		for b := len(t.roles); b < MaxRoles && r.err == nil; b++ {
			if t.roleSets[i].Has(b) {
				r.fail("role set %d names role %d of %d", i, b, len(t.roles))
			}
		}
	}
	if len(t.roleSets) > maxRoleSets {
		r.fail("%d role sets, at most %d", len(t.roleSets), maxRoleSets)
	}
	if r.err == nil && (len(t.roleSets) == 0 || t.roleSets[0] != (RoleBits{})) {
		r.fail("role set 0 must be empty")
	}

	t.rules = make([]Rule, r.count(4, "rules"))
	for i := range t.rules {
		t.rules[i] = Rule{
			Level:   uint8(r.uv(255, "rule level")),
			Flags:   Flags(r.uv(flagsAll, "rule flags")),
			Methods: MethodSet(r.uv(methodAll, "rule methods")),
			RoleSet: uint16(r.index(len(t.roleSets), "rule role set")),
		}
		if r.err == nil && t.rules[i].Level > 0 && t.rules[i].Flags&FlagPublic != 0 {
			r.fail("rule %d is public with a level", i)
		}
	}

	t.tries = make([]trie, r.count(2, "tries"))
	for i := range t.tries {
		r.trie(t, i)
	}
	if r.err != nil {
		return nil, r.err
	}

	t.services = make([]service, r.count(3, "services"))
	if r.err == nil && len(t.services) == 0 {
		r.fail("no services")
	}
	for i := range t.services {
		t.services[i] = service{
			name: r.index(len(t.strs), "service name"),
			trie: r.index(len(t.tries), "service trie"),
			def:  Default(r.uv(uint64(defaultCount-1), "service default")),
		}
	}
	t.mounts = make([]mount, r.count(3, "mounts"))
	for i := range t.mounts {
		t.mounts[i] = mount{
			host:    r.index(len(t.strs), "mount host"),
			prefix:  r.index(len(t.strs), "mount prefix"),
			service: r.index(len(t.services), "mount service"),
		}
	}
	t.grants = int32(r.uv(uint64(len(t.tries)), "grant trie")) - 1
	t.regexes = make([]regexGrant, r.count(3, "regex grants"))
	for i := range t.regexes {
		t.regexes[i] = regexGrant{
			pattern: r.index(len(t.strs), "regex pattern"),
			methods: MethodSet(r.uv(methodAll, "regex methods")),
			roleSet: uint16(r.index(len(t.roleSets), "regex role set")),
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.off != len(r.all) {
		return nil, fmt.Errorf("%w: %d bytes after the last section", ErrCorrupt, len(r.all)-r.off)
	}
	if err := t.validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// trie decodes trie i. Children are numbered in breadth-first order, so
// every node but the root must have been named as a child by an earlier
// node, and the numbering must end exactly at the trie's node count: the
// shape is a tree by construction and a lookup visits a node at most once.
func (r *reader) trie(t *Table, i int) {
	n := r.count(1, "trie nodes")
	if r.err == nil && n == 0 {
		r.fail("trie %d is empty", i)
	}
	if r.err != nil {
		return
	}
	start := len(t.nodes)
	t.tries[i] = trie{start: uint32(start), count: uint32(n)}
	t.nodes = append(t.nodes, make([]node, n)...)
	// Every node but the root is a literal or {param} child, so the trie
	// has at most n-1 edges; most nodes of a real policy end one route.
	// Growing once here saves the copies of growing route by route.
	t.edges = slices.Grow(t.edges, n-1)
	t.refs = slices.Grow(t.refs, n)
	t.nodes[start].parent = -1
	next := start + 1
	child := func(parent int, label uint32) uint32 {
		if next >= start+n {
			r.fail("trie %d: node %d names more children than the trie has nodes", i, parent-start)
			return 0
		}
		t.nodes[next].parent, t.nodes[next].label = int32(parent), label
		next++
		return uint32(next - 1)
	}
	for idx := start; idx < start+n && r.err == nil; idx++ {
		if idx >= next {
			r.fail("trie %d: node %d has no parent", i, idx-start)
			return
		}
		nd := &t.nodes[idx]
		head := r.uv(uint64(maxCount)<<2|3, "node head")
		nd.edgeCount = uint32(head >> 2)
		var exact, rest uint64
		if head&1 != 0 {
			exact = r.uv(maxCount, "exact route count")
			rest = r.uv(maxCount, "rest route count")
			if r.err == nil && exact+rest == 0 {
				r.fail("trie %d: node %d says it has routes and has none", i, idx-start)
			}
		}
		if r.err == nil && int(nd.edgeCount)+int(exact+rest)*2 > len(r.all)-r.off {
			r.fail("trie %d: node %d cannot fit", i, idx-start)
		}
		if r.err != nil {
			return
		}
		nd.edgeStart = uint32(len(t.edges))
		for e := range nd.edgeCount {
			lit := r.index(len(t.strs), "edge literal")
			if r.err != nil {
				return
			}
			if e > 0 && t.strs[t.edges[len(t.edges)-1].lit] >= t.strs[lit] {
				r.fail("trie %d: node %d edges not sorted", i, idx-start)
				return
			}
			t.edges = append(t.edges, edge{lit: lit, child: child(idx, lit)})
		}
		nd.param = -1
		if head&2 != 0 {
			nd.param = int32(child(idx, paramLabel))
		}
		nd.exactStart, nd.exactCount = r.refs(t, exact, uint32(idx), false)
		nd.restStart, nd.restCount = r.refs(t, rest, uint32(idx), true)
	}
	if r.err == nil && next != start+n {
		r.fail("trie %d: %d nodes, %d reachable", i, n, next-start)
	}
}

func (r *reader) refs(t *Table, n uint64, nodeIdx uint32, rest bool) (uint32, uint32) {
	start := uint32(len(t.refs))
	for range n {
		ref := ruleRef{
			rule: r.index(len(t.rules), "route rule"),
			line: uint32(r.uv(1<<32-1, "route line")),
			node: nodeIdx,
			rest: rest,
		}
		if r.err != nil {
			return start, 0
		}
		t.refs = append(t.refs, ref)
	}
	return start, uint32(n)
}

// validate checks what the reader cannot see field by field: sorted
// mounts, distinct service tries, and the regexes.
func (t *Table) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	used := make([]bool, len(t.tries))
	for i, s := range t.services {
		if used[s.trie] {
			return bad("service %d shares trie %d", i, s.trie)
		}
		used[s.trie] = true
	}
	if t.grants >= 0 && used[t.grants] {
		return bad("grant trie %d is a service's", t.grants)
	}
	for i, m := range t.mounts {
		host, prefix := t.strs[m.host], t.strs[m.prefix]
		if host == "" || !validPrefix(prefix) {
			return bad("mount %d: bad host %q or prefix %q", i, host, prefix)
		}
		if i > 0 {
			p := t.mounts[i-1]
			ph, pp := t.strs[p.host], t.strs[p.prefix]
			if ph > host || (ph == host && (len(pp) < len(prefix) || pp == prefix)) {
				return bad("mounts not sorted at %d", i)
			}
		}
	}
	for i := range t.regexes {
		g := &t.regexes[i]
		src := t.strs[g.pattern]
		if len(src) > maxRegexp {
			return bad("regex grant %d longer than %d bytes", i, maxRegexp)
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return bad("regex grant %d: %v", i, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		g.re = re
	}
	return nil
}
