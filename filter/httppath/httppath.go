package httppath

import (
	"errors"
	"strings"
)

// Errors name why a request is refused with 400. Their text is the
// machine-readable detail the filter logs.
var (
	ErrNotAbsolute    = errors.New("path is not absolute")
	ErrControl        = errors.New("path holds a control character or space")
	ErrBadEscape      = errors.New("path holds a malformed percent-escape")
	ErrNul            = errors.New("path holds an encoded NUL")
	ErrEncodedSlash   = errors.New("path holds an encoded / or \\ inside a segment")
	ErrBackslash      = errors.New("path holds a backslash")
	ErrDoubleEncoding = errors.New("path is percent-encoded twice")
	ErrSemicolon      = errors.New("path holds a ; parameter")
	ErrTooLong        = errors.New("path is longer than 8192 bytes")
	ErrFragment       = errors.New("path holds a #: clients never send a fragment, and upstreams read one differently")
	ErrEncodedDot     = errors.New("path holds a dot segment written with %2e: upstreams that do not decode dots see another path")
	ErrAmbiguousDots  = errors.New("path holds .. after an empty segment: merging slashes first and RFC 3986 give different paths")
	ErrBadHost        = errors.New("host is malformed")
	ErrNoHost         = errors.New("request has no Host header")
	ErrAmbiguousHost  = errors.New("request has Host headers that differ")
	ErrRoutedHost     = errors.New("the request line names another host than the Host header (absolute-form target)")
	ErrBadMethod      = errors.New("method is not an upper-case token")
)

// MaxPath is the longest raw path accepted.
const MaxPath = 8192

// Options relax the defaults where a policy opts in.
type Options struct {
	AllowEncodedSlash bool // %2F and %5C inside a segment stay part of it
	// Lenient reads the targets that reasonable upstreams disagree about
	// one way instead of refusing them: a fragment is dropped, %2e
	// counts as a dot, and repeated slashes are merged before dot
	// segments are resolved.
	Lenient bool
}

// Path normalises a raw request target: query dropped, percent-escapes
// decoded exactly once, dot segments resolved, repeated slashes merged. A
// trailing slash is kept. It refuses NUL, control characters,
// backslashes, ';' parameters, encoded slashes (unless allowed) and
// anything still escaped after one decoding, and, unless lenient, the
// targets whose meaning depends on the upstream: a '#', a dot segment
// written with %2e, and a '..' after an empty segment (where merging
// slashes first and RFC 3986's dot removal disagree: /a//.. is /
// merged, /a/ by the RFC).
//
// It allocates only when the path needs rewriting.
func Path(raw string, o Options) (string, error) {
	if len(raw) > MaxPath {
		return "", ErrTooLong
	}
	// The query or fragment ends the path. A loop, not strings.IndexAny:
	// inside wasm that is three calls deep.
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c == '?' || c == '#' {
			if c == '#' && !o.Lenient {
				return "", ErrFragment
			}
			raw = raw[:i]
			break
		}
	}
	if raw == "" || raw[0] != '/' {
		return "", ErrNotAbsolute
	}
	clean := true
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c <= ' ' || c == 0x7f:
			return "", ErrControl
		case c == '\\':
			return "", ErrBackslash
		case c == ';':
			return "", ErrSemicolon
		case c == '%':
			clean = false
		case c == '/' && i+1 < len(raw) && (raw[i+1] == '/' || raw[i+1] == '.'):
			clean = false
		}
	}
	if clean {
		return raw, nil
	}
	var b strings.Builder
	b.Grow(len(raw))
	var stack []int // lengths of b before each kept segment, for ..
	segs := strings.Split(raw[1:], "/")
	empty := false // an empty segment came before this one
	for i, seg := range segs {
		dec, err := decode(seg, o)
		if err != nil {
			return "", err
		}
		last := i == len(segs)-1
		if !o.Lenient && (dec == "." || dec == "..") {
			if dec != seg {
				return "", ErrEncodedDot
			}
			if dec == ".." && empty {
				return "", ErrAmbiguousDots
			}
		}
		if dec == "" && !last {
			empty = true
		}
		switch dec {
		case "":
			if last && b.Len() > 0 {
				b.WriteByte('/') // keep the trailing slash
			}
			continue
		case ".":
			if last && b.Len() > 0 {
				b.WriteByte('/')
			}
			continue
		case "..":
			if n := len(stack); n > 0 {
				s := b.String()[:stack[n-1]]
				b.Reset()
				b.WriteString(s)
				stack = stack[:n-1]
			}
			if last && b.Len() > 0 {
				b.WriteByte('/')
			}
			continue
		}
		stack = append(stack, b.Len())
		b.WriteByte('/')
		b.WriteString(dec)
	}
	if b.Len() == 0 {
		return "/", nil
	}
	return b.String(), nil
}

// decode percent-decodes one segment once.
func decode(seg string, o Options) (string, error) {
	if strings.IndexByte(seg, '%') < 0 {
		return seg, nil
	}
	out := make([]byte, 0, len(seg))
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		if i+2 >= len(seg) {
			return "", ErrBadEscape
		}
		h, l := unhex(seg[i+1]), unhex(seg[i+2])
		if h < 0 || l < 0 {
			return "", ErrBadEscape
		}
		v := byte(h<<4 | l)
		switch {
		case v == 0:
			return "", ErrNul
		case v == '/' || v == '\\':
			if !o.AllowEncodedSlash {
				return "", ErrEncodedSlash
			}
		case v < ' ' || v == 0x7f:
			return "", ErrControl
		case v == ';':
			return "", ErrSemicolon
		}
		out = append(out, v)
		i += 2
	}
	// Anything that still reads as an escape was encoded twice: an upstream
	// that decodes again would see another path than we matched.
	for i := 0; i+2 < len(out); i++ {
		if out[i] == '%' && unhex(out[i+1]) >= 0 && unhex(out[i+2]) >= 0 {
			return "", ErrDoubleEncoding
		}
	}
	return string(out), nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// Host lower-cases an authority and drops its port and a trailing dot.
func Host(raw string) (string, error) {
	h := raw
	if strings.HasPrefix(h, "[") { // IPv6 literal
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", ErrBadHost
		}
		rest := h[end+1:]
		if rest != "" && !validPort(rest) {
			return "", ErrBadHost
		}
		return strings.ToLower(h[:end+1]), nil
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if !validPort(h[i:]) {
			return "", ErrBadHost
		}
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return "", ErrBadHost
	}
	lower := true
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_':
		case 'A' <= c && c <= 'Z':
			lower = false
		default:
			return "", ErrBadHost
		}
	}
	if !lower {
		h = strings.ToLower(h)
	}
	return h, nil
}

func validPort(s string) bool {
	if len(s) < 2 || len(s) > 6 || s[0] != ':' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Method checks that a method is an upper-case token.
func Method(m string) error {
	if m == "" || len(m) > 32 {
		return ErrBadMethod
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !('A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return ErrBadMethod
		}
	}
	return nil
}
