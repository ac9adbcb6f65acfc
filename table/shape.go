package table

import "strings"

// Shape is what a table's requests depend on, as patterns: its mounts,
// every path its tries spell out, and the methods its rules name. The
// semantic diff enumerates requests from it when it has a compiled table
// and no policy source.
type Shape struct {
	Mounts   []MountShape
	Services []ServiceShape
	Grants   []string // the role permissions' paths
	Regexes  []string // the role permissions' regular expressions
	Methods  []string // every method a rule or permission names
}

// MountShape is a host and prefix and the service mounted there.
type MountShape struct {
	Host, Prefix, Service string
}

// ServiceShape is a service's default and every path of its trie, with
// {} for a parameter and a trailing /** where rules match any rest.
type ServiceShape struct {
	Name    string
	Default Default
	Paths   []string
}

// Shape describes the table.
func (t *Table) Shape() Shape {
	var s Shape
	for _, m := range t.mounts {
		s.Mounts = append(s.Mounts, MountShape{t.strs[m.host], strings.TrimSuffix(t.strs[m.prefix], "/"), t.strs[t.services[m.service].name]})
	}
	var methods MethodSet
	for _, svc := range t.services {
		ss := ServiceShape{Name: t.strs[svc.name], Default: svc.def}
		t.walkPaths(t.tries[svc.trie].start, "", &ss.Paths)
		s.Services = append(s.Services, ss)
	}
	if t.grants >= 0 {
		t.walkPaths(t.tries[t.grants].start, "", &s.Grants)
	}
	for _, g := range t.regexes {
		s.Regexes = append(s.Regexes, t.strs[g.pattern])
		methods |= g.methods
	}
	for _, r := range t.rules {
		methods |= r.Methods
	}
	for i, name := range methodNames {
		if methods&(1<<i) != 0 {
			s.Methods = append(s.Methods, name)
		}
	}
	return s
}

func (t *Table) walkPaths(n uint32, path string, out *[]string) {
	nd := t.nodes[n]
	p := path
	if p == "" {
		p = "/"
	}
	*out = append(*out, p)
	if nd.restCount > 0 {
		*out = append(*out, strings.TrimSuffix(path, "/")+"/**")
	}
	for _, e := range t.edges[nd.edgeStart : nd.edgeStart+nd.edgeCount] {
		t.walkPaths(e.child, path+"/"+t.strs[e.lit], out)
	}
	if nd.param >= 0 {
		t.walkPaths(uint32(nd.param), path+"/{}", out)
	}
}
