package table

import (
	"fmt"
	"strings"
)

// Dump renders the table as stable, readable text for golden tests and
// `keycard compile --format dump`.
func (t *Table) Dump() string {
	var b strings.Builder
	fmt.Fprintf(&b, "keycard table v%d sha256:%x\n", Version, t.hash)
	fmt.Fprintf(&b, "roles: %s\n", strings.Join(t.Roles(), " "))
	b.WriteString("mounts:\n")
	for _, m := range t.mounts {
		fmt.Fprintf(&b, "  %s%s -> %s\n", t.strs[m.host], strings.TrimSuffix(t.strs[m.prefix], "/"), t.strs[t.services[m.service].name])
	}
	for _, s := range t.services {
		fmt.Fprintf(&b, "service %s (default %s)\n", t.strs[s.name], s.def)
		t.dumpNode(&b, t.tries[s.trie].start, "")
	}
	if t.grants >= 0 || len(t.regexes) > 0 {
		b.WriteString("grants\n")
		if t.grants >= 0 {
			t.dumpNode(&b, t.tries[t.grants].start, "")
		}
		for _, g := range t.regexes {
			fmt.Fprintf(&b, "  re:%s  methods=%s roles=%s\n", t.strs[g.pattern], g.methods, t.roleNames(g.roleSet))
		}
	}
	return b.String()
}

func (t *Table) dumpNode(b *strings.Builder, n uint32, path string) {
	nd := t.nodes[n]
	shown := path
	if shown == "" {
		shown = "/"
	}
	for i := nd.exactStart; i < nd.exactStart+nd.exactCount; i++ {
		t.dumpRule(b, shown, i)
	}
	for i := nd.restStart; i < nd.restStart+nd.restCount; i++ {
		t.dumpRule(b, strings.TrimSuffix(path, "/")+"/**", i)
	}
	for _, e := range t.edges[nd.edgeStart : nd.edgeStart+nd.edgeCount] {
		t.dumpNode(b, e.child, path+"/"+t.strs[e.lit])
	}
	if nd.param >= 0 {
		t.dumpNode(b, uint32(nd.param), path+"/{}")
	}
}

func (t *Table) dumpRule(b *strings.Builder, path string, i uint32) {
	r := t.Rule(int(i))
	var flags []string
	if r.Flags&FlagPublic != 0 {
		flags = append(flags, "public")
	}
	if r.Flags&FlagTokenOptional != 0 {
		flags = append(flags, "token-optional")
	}
	if r.Flags&FlagShadow != 0 {
		flags = append(flags, "shadow")
	}
	fmt.Fprintf(b, "  %-28s methods=%s level=%d roles=%s flags=%s  # line %d\n",
		path, r.Methods, r.Level, t.roleNames(r.RoleSet), strings.Join(flags, ","), r.Line)
}

func (t *Table) roleNames(set uint16) string {
	var names []string
	rs := t.roleSets[set]
	for i, id := range t.roles {
		if rs.Has(i) {
			names = append(names, t.strs[id])
		}
	}
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ",")
}
