package token

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter/abi/headermap"
)

// ErrAmbiguous means a request carried two different tokens.
var ErrAmbiguous = errors.New("two different tokens in one request")

// Headers is a request's header list as the host hands it over; names
// asked for are lower case. It is the filter's header type too
// (filter.Headers), so that handing a request's headers from one to the
// other converts nothing at run time.
type Headers interface {
	Values(name string) []string
	// Next returns the first value at position from or after it, and
	// its position, or -1 when there is none: reading headers on the
	// request path need not allocate, and goes over the list once.
	Next(name string, from int) (string, int)
	// Get is the first value of a header.
	Get(name string) (string, bool)
	// Each calls fn for every header in order.
	Each(fn func(name, value string))
	// EachIn calls fn, in order, for every header whose name set may
	// hold: a walk for a few names skips the others unseen.
	EachIn(set *headermap.NameSet, fn func(name, value string))
}

// HeaderList is a header list held in Go memory: a native caller's
// (keycard test, explain) or a waiting request's copy. Names compare as
// in a host's map (headermap.EqualName), so that a request decided again
// from its copy, or natively, finds the headers the module found.
type HeaderList [][2]string

// Get returns the first value of a header.
func (h HeaderList) Get(name string) (string, bool) {
	v, at := h.Next(name, 0)
	return v, at >= 0
}

// Next returns a header's first value at position from or after it, and
// its position, or -1 when there is none.
func (h HeaderList) Next(name string, from int) (string, int) {
	for i := max(from, 0); i < len(h); i++ {
		if headermap.EqualName(h[i][0], name) {
			return h[i][1], i
		}
	}
	return "", -1
}

// Values returns every value of a header.
func (h HeaderList) Values(name string) []string {
	var out []string
	for _, kv := range h {
		if headermap.EqualName(kv[0], name) {
			out = append(out, kv[1])
		}
	}
	return out
}

// Each calls fn for every header in order.
func (h HeaderList) Each(fn func(name, value string)) {
	for _, kv := range h {
		fn(kv[0], kv[1])
	}
}

// EachIn calls fn, in order, for every header whose name set may hold.
func (h HeaderList) EachIn(set *headermap.NameSet, fn func(name, value string)) {
	for _, kv := range h {
		if set.May(kv[0]) {
			fn(kv[0], kv[1])
		}
	}
}

// Extract reads the token from the sources in order. The first source that
// has one wins, but a different token in any other source is an error:
// which one the upstream would believe is not ours to guess. Header names
// are matched lower case (LowerSources prepares them once).
func Extract(sources []config.TokenSource, h Headers) (string, error) {
	found := ""
	for _, s := range sources {
		var vals []string
		if s.Cookie != "" {
			vals = cookies(h.Values("cookie"), s.Cookie)
		} else {
			for v, at := h.Next(s.Header, 0); at >= 0; v, at = h.Next(s.Header, at+1) {
				if t, ok := fromHeader(v, s.Scheme); ok && t != "" {
					if found != "" && t != found {
						return "", ErrAmbiguous
					}
					found = t
				}
			}
		}
		for _, v := range vals {
			if v == "" {
				continue
			}
			if found != "" && v != found {
				return "", ErrAmbiguous
			}
			found = v
		}
	}
	return found, nil
}

// fromHeader reads a token from a header's value: after scheme and one
// space, when the source names a scheme (in any ASCII case).
func fromHeader(v, scheme string) (string, bool) {
	if !trimmed(v) {
		v = strings.TrimSpace(v)
	}
	if scheme == "" {
		return v, v != ""
	}
	if len(v) <= len(scheme) || !headermap.EqualName(v[:len(scheme)], scheme) || v[len(scheme)] != ' ' {
		return "", false
	}
	if v = v[len(scheme)+1:]; !trimmed(v) {
		v = strings.TrimSpace(v)
	}
	return v, true
}

// trimmed reports that strings.TrimSpace would leave s as it is because
// both its ends are visible ASCII, the usual header value (every space
// TrimSpace trims is a control or space byte, or a rune of more than one
// byte), so that the usual value costs no call.
func trimmed(s string) bool {
	return s != "" && s[0] > ' ' && s[0] < utf8.RuneSelf && s[len(s)-1] > ' ' && s[len(s)-1] < utf8.RuneSelf
}

// cookies returns the values of the named cookie across Cookie headers.
func cookies(headers []string, name string) []string {
	var out []string
	for _, h := range headers {
		for part := range strings.SplitSeq(h, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && k == name {
				out = append(out, strings.Trim(v, `"`))
			}
		}
	}
	return out
}

// LowerSources returns the sources with lower-case header names, as
// Extract wants them.
func LowerSources(sources []config.TokenSource) []config.TokenSource {
	out := make([]config.TokenSource, len(sources))
	for i, s := range sources {
		s.Header = strings.ToLower(s.Header)
		out[i] = s
	}
	return out
}
