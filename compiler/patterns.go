package compiler

import (
	"regexp"
	"strings"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/table"
)

// parsePattern checks a path pattern and splits it into segments. The
// message says what is wrong; "" means the pattern is good.
func parsePattern(p string) ([]table.Segment, string) {
	if !strings.HasPrefix(p, "/") {
		return nil, "must start with /"
	}
	if p == "/" {
		return nil, ""
	}
	if strings.HasSuffix(p, "/") {
		return nil, "must not end with / (a trailing slash is ignored when matching)"
	}
	parts := strings.Split(p[1:], "/")
	segs := make([]table.Segment, 0, len(parts))
	for i, s := range parts {
		switch {
		case s == "":
			return nil, "has an empty segment (//)"
		case s == "." || s == "..":
			return nil, "has a dot segment (" + s + ")"
		case s == "**":
			if i != len(parts)-1 {
				return nil, "** must be the last segment"
			}
			segs = append(segs, table.Segment{Kind: table.SegRest})
		case s == "*":
			segs = append(segs, table.Segment{Kind: table.SegParam})
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			if !config.IsIdentifier(s[1 : len(s)-1]) {
				return nil, "parameter " + s + " needs a name of letters, digits and _"
			}
			segs = append(segs, table.Segment{Kind: table.SegParam})
		default:
			if strings.ContainsAny(s, "{}*") {
				return nil, "segment " + s + " mixes a literal with { } or *; a wildcard is a whole segment"
			}
			for j := 0; j < len(s); j++ {
				c := s[j]
				if c <= ' ' || c >= 0x7f || c == '%' || c == '\\' || c == '?' || c == '#' {
					return nil, "segment " + s + " has a character that a normalised path never holds"
				}
			}
			segs = append(segs, table.Segment{Kind: table.SegLiteral, Lit: s})
		}
	}
	return segs, ""
}

// canonical is the pattern with parameters unnamed: two routes with the
// same canonical pattern match the same paths.
func canonical(segs []table.Segment) string {
	if len(segs) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		switch s.Kind {
		case table.SegLiteral:
			b.WriteString(s.Lit)
		case table.SegParam:
			b.WriteString("{}")
		case table.SegRest:
			b.WriteString("**")
		}
	}
	return b.String()
}

func checkPrefix(p string) string {
	segs, msg := parsePattern(p)
	if msg != "" {
		return msg
	}
	for _, s := range segs {
		if s.Kind != table.SegLiteral {
			return "a prefix is literal segments only"
		}
	}
	return ""
}

// checkHost checks a host name or a "*." wildcard and returns it lower
// case.
func checkHost(h string) (string, string) {
	h = strings.ToLower(h)
	name := strings.TrimPrefix(h, "*.")
	if strings.Contains(name, "*") {
		return "", "a wildcard is only allowed as a leading *. label"
	}
	if len(name) == 0 || len(name) > 253 {
		return "", "must be 1 to 253 characters"
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return "", "has an empty or over-long label"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", "has a label that starts or ends with -"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return "", "has a character other than letters, digits, - and ."
			}
		}
	}
	if strings.HasPrefix(h, "*.") && !strings.Contains(name, ".") {
		return "", "a wildcard needs at least two labels after *."
	}
	return h, ""
}

// permission is a parsed role permission: "[METHOD[,METHOD]] pattern" or
// "[METHOD] re:REGEX".
type permission struct {
	methods table.MethodSet
	segs    []table.Segment
	regex   string
}

func parsePermission(s string) (permission, string) {
	var p permission
	rest := strings.TrimSpace(s)
	if i := strings.IndexByte(rest, ' '); i > 0 && !strings.HasPrefix(rest, "/") && !strings.HasPrefix(rest, "re:") {
		for _, m := range strings.Split(rest[:i], ",") {
			bit := table.ParseMethod(m)
			if bit == 0 {
				return p, "method " + m + " is not one of " + strings.Join(table.MethodNames(), " ")
			}
			p.methods |= bit
		}
		p.methods = table.WithHead(p.methods)
		rest = strings.TrimSpace(rest[i+1:])
	}
	if re, ok := strings.CutPrefix(rest, "re:"); ok {
		if _, err := regexp.Compile(re); err != nil {
			return p, "bad regular expression: " + strings.TrimPrefix(err.Error(), "error parsing regexp: ")
		}
		if len(re) > 4096 {
			return p, "regular expression longer than 4096 bytes"
		}
		p.regex = re
		return p, ""
	}
	segs, msg := parsePattern(rest)
	if msg != "" {
		return p, "pattern " + rest + " " + msg
	}
	p.segs = segs
	return p, ""
}
