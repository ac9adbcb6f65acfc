package token

import (
	"errors"
	"strings"

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
	// Nth returns the i-th value (from 0), so that reading headers on
	// the request path need not allocate.
	Nth(name string, i int) (string, bool)
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
func (h HeaderList) Get(name string) (string, bool) { return h.Nth(name, 0) }

// Nth returns the i-th value (from 0) of a header.
func (h HeaderList) Nth(name string, i int) (string, bool) {
	for _, kv := range h {
		if headermap.EqualName(kv[0], name) {
			if i == 0 {
				return kv[1], true
			}
			i--
		}
	}
	return "", false
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
			for i := 0; ; i++ {
				v, ok := h.Nth(s.Header, i)
				if !ok {
					break
				}
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
	v = strings.TrimSpace(v)
	if scheme == "" {
		return v, v != ""
	}
	if len(v) <= len(scheme) || !headermap.EqualName(v[:len(scheme)], scheme) || v[len(scheme)] != ' ' {
		return "", false
	}
	return strings.TrimSpace(v[len(scheme)+1:]), true
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
