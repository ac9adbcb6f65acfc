package table

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"regexp"
	"strings"
)

// headerSize is magic (4) + version (2) + content length (4) + SHA-256 (32).
const headerSize = 4 + 2 + 4 + 32

// Limits that keep a hostile table from asking the decoder for huge
// allocations before it has read the entries that would justify them.
const (
	maxCount  = 1 << 24
	maxLevel  = 255
	maxRegexp = 4096
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
		w.uv(uint64(r.Level))
		w.uv(uint64(r.Flags))
		w.uv(uint64(r.Methods))
		w.uv(uint64(r.RoleSet))
		w.uv(uint64(r.Pattern))
		w.uv(uint64(r.Line))
	}
	w.uv(uint64(len(t.nodes)))
	for _, n := range t.nodes {
		w.uv(uint64(n.edgeStart))
		w.uv(uint64(n.edgeCount))
		w.uv(uint64(n.param + 1))
		w.uv(uint64(n.exactStart))
		w.uv(uint64(n.exactCount))
		w.uv(uint64(n.restStart))
		w.uv(uint64(n.restCount))
	}
	w.uv(uint64(len(t.edges)))
	for _, e := range t.edges {
		w.uv(uint64(e.lit))
		w.uv(uint64(e.child))
	}
	w.uv(uint64(len(t.services)))
	for _, s := range t.services {
		w.uv(uint64(s.name))
		w.uv(uint64(s.root))
		w.uv(uint64(s.def))
	}
	w.uv(uint64(len(t.mounts)))
	for _, m := range t.mounts {
		w.uv(uint64(m.host))
		w.uv(uint64(m.prefix))
		w.uv(uint64(m.service))
	}
	w.uv(uint64(t.grants + 1))
	w.uv(uint64(len(t.regexes)))
	for _, g := range t.regexes {
		w.uv(uint64(g.pattern))
		w.uv(uint64(g.methods))
		w.uv(uint64(g.roleSet))
	}
	content := w.b
	out := make([]byte, headerSize, headerSize+len(content))
	copy(out, Magic)
	binary.LittleEndian.PutUint16(out[4:], Version)
	binary.LittleEndian.PutUint32(out[6:], uint32(len(content)))
	sum := sha256.Sum256(content)
	copy(out[10:], sum[:])
	return append(out, content...)
}

type writer struct{ b []byte }

func (w *writer) uv(v uint64) { w.b = binary.AppendUvarint(w.b, v) }

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
	}
}

func (r *reader) uv(max uint64, what string) uint64 {
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

func decodeContent(content []byte) (*Table, error) {
	r := &reader{all: string(content)}
	t := &Table{}

	ns := r.count(1, "strings")
	t.strs = make([]string, ns)
	for i := range t.strs {
		l := int(r.uv(uint64(len(r.all)), "string length"))
		if r.err != nil {
			return nil, r.err
		}
		if l > len(r.all)-r.off {
			r.fail("string %d runs past the end", i)
			return nil, r.err
		}
		t.strs[i] = r.all[r.off : r.off+l]
		r.off += l
	}
	strMax := uint64(max(ns-1, 0))
	if ns == 0 {
		r.fail("empty string table")
	}

	t.roles = make([]uint32, r.count(1, "roles"))
	if len(t.roles) > MaxRoles {
		r.fail("%d roles, at most %d", len(t.roles), MaxRoles)
		return nil, r.err
	}
	for i := range t.roles {
		t.roles[i] = uint32(r.uv(strMax, "role name"))
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
	if len(t.roleSets) == 0 || t.roleSets[0] != (RoleBits{}) {
		r.fail("role set 0 must be empty")
	}
	setMax := uint64(max(len(t.roleSets)-1, 0))

	t.rules = make([]Rule, r.count(6, "rules"))
	for i := range t.rules {
		t.rules[i] = Rule{
			Level:   uint8(r.uv(maxLevel, "rule level")),
			Flags:   Flags(r.uv(flagsAll, "rule flags")),
			Methods: MethodSet(r.uv(methodAll, "rule methods")),
			RoleSet: uint16(r.uv(setMax, "rule role set")),
			Pattern: uint32(r.uv(strMax, "rule pattern")),
			Line:    uint32(r.uv(1<<32-1, "rule line")),
		}
	}
	nr := uint64(len(t.rules))

	t.nodes = make([]node, r.count(7, "nodes"))
	for i := range t.nodes {
		n := &t.nodes[i]
		n.edgeStart = uint32(r.uv(maxCount, "edge start"))
		n.edgeCount = uint32(r.uv(maxCount, "edge count"))
		n.param = int32(r.uv(uint64(len(t.nodes)), "param child")) - 1
		n.exactStart = uint32(r.uv(nr, "exact rules start"))
		n.exactCount = uint32(r.uv(nr-uint64(n.exactStart), "exact rules count"))
		n.restStart = uint32(r.uv(nr, "rest rules start"))
		n.restCount = uint32(r.uv(nr-uint64(n.restStart), "rest rules count"))
	}
	t.edges = make([]edge, r.count(2, "edges"))
	for i := range t.edges {
		t.edges[i] = edge{lit: uint32(r.uv(strMax, "edge literal")), child: uint32(r.uv(uint64(max(len(t.nodes)-1, 0)), "edge child"))}
	}
	t.services = make([]service, r.count(3, "services"))
	for i := range t.services {
		t.services[i] = service{
			name: uint32(r.uv(strMax, "service name")),
			root: uint32(r.uv(uint64(max(len(t.nodes)-1, 0)), "service root")),
			def:  Default(r.uv(uint64(defaultCount-1), "service default")),
		}
	}
	t.mounts = make([]mount, r.count(3, "mounts"))
	for i := range t.mounts {
		t.mounts[i] = mount{
			host:    uint32(r.uv(strMax, "mount host")),
			prefix:  uint32(r.uv(strMax, "mount prefix")),
			service: uint32(r.uv(uint64(max(len(t.services)-1, 0)), "mount service")),
		}
	}
	t.grants = int32(r.uv(uint64(len(t.nodes)), "grant root")) - 1
	t.regexes = make([]regexGrant, r.count(3, "regex grants"))
	for i := range t.regexes {
		t.regexes[i] = regexGrant{
			pattern: uint32(r.uv(strMax, "regex pattern")),
			methods: MethodSet(r.uv(methodAll, "regex methods")),
			roleSet: uint16(r.uv(setMax, "regex role set")),
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

// validate checks what the per-field ranges cannot: edge ranges, sorted
// edges, the tree shape (every node but a root has exactly one parent with
// a smaller index, so a lookup visits each node at most once), empty
// services, mounts and regexes.
func (t *Table) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if len(t.services) == 0 {
		return bad("no services")
	}
	parent := make([]int32, len(t.nodes))
	for i := range parent {
		parent[i] = -1
	}
	claim := func(child uint32, p int) error {
		if int(child) <= p {
			return bad("node %d points back to node %d", p, child)
		}
		if parent[child] != -1 {
			return bad("node %d has two parents", child)
		}
		parent[child] = int32(p)
		return nil
	}
	for i, n := range t.nodes {
		if uint64(n.edgeStart)+uint64(n.edgeCount) > uint64(len(t.edges)) {
			return bad("node %d edges out of range", i)
		}
		es := t.edges[n.edgeStart : n.edgeStart+n.edgeCount]
		for j, e := range es {
			if j > 0 && t.strs[es[j-1].lit] >= t.strs[e.lit] {
				return bad("node %d edges not sorted", i)
			}
			if err := claim(e.child, i); err != nil {
				return err
			}
		}
		if n.param >= 0 {
			if err := claim(uint32(n.param), i); err != nil {
				return err
			}
		}
	}
	roots := map[uint32]bool{}
	for i, s := range t.services {
		if parent[s.root] != -1 || roots[s.root] {
			return bad("service %d root %d is not a root", i, s.root)
		}
		roots[s.root] = true
	}
	if t.grants >= 0 {
		if parent[t.grants] != -1 || roots[uint32(t.grants)] {
			return bad("grant root %d is not a root", t.grants)
		}
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
