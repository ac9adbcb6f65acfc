package compiler

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/config"
	"gopkg.in/yaml.v3"
)

// decoder walks yaml.Nodes of one file and records findings.
type decoder struct {
	file string
	errs *Errors
}

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{d.file, n.Line, n.Column} }

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	*d.errs = append(*d.errs, &Error{Pos: d.pos(n), Msg: fmt.Sprintf(format, args...)})
}

// fields calls fn for each key of mapping n, in file order, after checking
// that every key is known (with a suggestion for near misses) and given
// once.
func (d *decoder) fields(n *yaml.Node, what string, known []string, fn func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping, not %s", what, kindName(n))
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: keys must be strings", what)
			continue
		}
		if prev, ok := seen[k.Value]; ok {
			d.errorf(k, "%s: field %q given twice (first at %s)", what, k.Value, d.pos(prev))
			continue
		}
		seen[k.Value] = k
		if known != nil && !containsStr(known, k.Value) {
			d.errorf(k, "%s: unknown field %q%s", what, k.Value, suggest(k.Value, known))
			continue
		}
		fn(k.Value, k, v)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "empty"
}

func (d *decoder) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, "%s must be a string, not %s", what, kindName(n))
		return "", false
	}
	if n.Value == "" {
		d.errorf(n, "%s must not be empty", what)
		return "", false
	}
	return n.Value, true
}

func (d *decoder) integer(n *yaml.Node, what string, lo, hi int) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.errorf(n, "%s must be an integer, not %s", what, kindName(n))
		return 0, false
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < lo || v > hi {
		d.errorf(n, "%s must be an integer from %d to %d, not %s", what, lo, hi, n.Value)
		return 0, false
	}
	return v, true
}

func (d *decoder) boolean(n *yaml.Node, what string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.errorf(n, "%s must be true or false, not %s", what, kindName(n))
		return false, false
	}
	return n.Value == "true", true
}

func (d *decoder) duration(n *yaml.Node, what string, hi time.Duration) (time.Duration, bool) {
	s, ok := d.str(n, what)
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 || v > hi {
		d.errorf(n, "%s must be a duration from 0s to %s such as 30s, not %q", what, hi, s)
		return 0, false
	}
	return v, true
}

func (d *decoder) oneOf(n *yaml.Node, what string, choices ...string) (string, bool) {
	s, ok := d.str(n, what)
	if !ok {
		return "", false
	}
	if !containsStr(choices, s) {
		d.errorf(n, "%s must be one of %v, not %q%s", what, choices, s, suggest(s, choices))
		return "", false
	}
	return s, true
}

// list calls fn for each item of sequence n.
func (d *decoder) list(n *yaml.Node, what string, fn func(i int, item *yaml.Node)) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s must be a list, not %s", what, kindName(n))
		return
	}
	for i, item := range n.Content {
		fn(i, item)
	}
}

// ref is a string with its position.
type ref struct {
	Value string
	Node  *yaml.Node
}

// refValues is the strings of refs, nil for none.
func refValues(refs []ref) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Value)
	}
	return out
}

func (d *decoder) strList(n *yaml.Node, what string) []ref {
	var out []ref
	d.list(n, what, func(i int, item *yaml.Node) {
		if s, ok := d.str(item, fmt.Sprintf("%s[%d]", what, i)); ok {
			out = append(out, ref{s, item})
		}
	})
	return out
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// passHeaders reads options.pass_headers: override headers (config.
// OverrideHeaders) that an upstream legitimately needs, in any case.
func (d *decoder) passHeaders(n *yaml.Node) []string {
	var names []string
	for i, r := range d.strList(n, "options.pass_headers") {
		lower := strings.ToLower(r.Value)
		if !config.IsOverrideHeader(lower) && lower != config.MethodOverrideParam {
			var known []string
			for _, o := range config.OverrideHeaders {
				known = append(known, o.Name)
			}
			known = append(known, config.MethodOverrideParam+" (a query parameter)")
			d.errorf(r.Node, "options.pass_headers[%d]: %q is not a header the filter strips (%s)", i, r.Value, strings.Join(known, ", "))
			continue
		}
		names = append(names, lower)
	}
	return names
}

// MaxName is the longest identifier a policy may use: names become Redis
// key parts, metric names and header values.
const MaxName = 64

// ident reads a name: 1 to MaxName letters, digits, '_', '-' or '.',
// starting with a letter or digit. A refused value is shown shortened.
func (d *decoder) ident(n *yaml.Node, what string) (string, bool) {
	s, ok := d.str(n, what)
	if !ok {
		return "", false
	}
	return s, d.checkIdent(n, what, s)
}

func (d *decoder) checkIdent(n *yaml.Node, what, s string) bool {
	if len(s) > MaxName {
		d.errorf(n, "%s is %d bytes long (at most %d): %s", what, len(s), MaxName, shorten(s))
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case (c == '_' || c == '-' || c == '.') && i > 0:
		default:
			d.errorf(n, "%s %s: use letters, digits, '_', '-' and '.', starting with a letter or digit", what, shorten(s))
			return false
		}
	}
	return true
}

// shorten quotes s for a message, cut to its first 32 bytes.
func shorten(s string) string {
	if len(s) <= 32 {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:32]) + "…"
}

// checkHeaderName refuses a header name that is not an HTTP token.
func (d *decoder) checkHeaderName(n *yaml.Node, what, h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') || len(h) > MaxName {
			d.errorf(n, "%s %s: a header name is letters, digits and '-'", what, shorten(h))
			return false
		}
	}
	return true
}
