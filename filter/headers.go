package filter

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter/abi/headermap"
	"github.com/keycard-gw/keycard/filter/token"
)

// Request headers: the ones a client may not send, the ones the filter
// strips, and the identity headers it forwards.

func has(h token.Headers, name string) bool { return len(h.Values(name)) > 0 }

// refusal is a header whose client copy refuses a request on Kong, and
// the reason given. With variantsOnly, only spellings that are not the
// name itself in some case refuse ("_" for "-").
type refusal struct {
	name, reason string
	variantsOnly bool
}

// refuses reports whether a client header named n falls under f.
func (f *refusal) refuses(n string) bool {
	return SameHeaderName(n, f.name) && !(f.variantsOnly && strings.EqualFold(n, f.name))
}

// sentRefused finds, on Kong, a client header that must not reach the
// upstream: a forwarded identity header, or an override header the
// policy does not pass.
//
// Kong's host cannot take a request header away: ngx_wasm_module's
// proxy_remove_header_map_value (and the duplicates that
// proxy_replace_header_map_value drops) only zero the header's hash
// (src/http/ngx_http_wasm_headers.c, ngx_http_wasm_set_header_helper),
// and nginx's proxy module copies r->headers_in without looking at it
// (ngx_http_proxy_create_request), so the upstream would still receive
// the client's copy. On Kong such a request is refused instead.
//
// Names compare as SameHeaderName does: Kong's nginx runs with
// underscores_in_headers on (kong/templates/nginx_kong.lua).
func (e *Engine) sentRefused(h Headers) (name, reason string, found bool) {
	// The walk's function is made once per engine (a closure made per
	// request would be an allocation per request); it leaves what it
	// found in e.refused.
	e.refused = refusalFound{}
	h.EachIn(&e.refuseNames, e.visitRefused)
	return e.refused.name, e.refused.reason, e.refused.found
}

// refusalFound is what sentRefused's walk found.
type refusalFound struct {
	name, reason string
	found        bool
}

func (e *Engine) refusedHeader(n string) {
	if e.refused.found || n[0] == ':' { // the walk passes only names refuseNames may hold, none empty
		return
	}
	for i := range e.refuse {
		// The length first, in the loop: a call per entry costs more
		// than the comparison inside wasm.
		if f := &e.refuse[i]; len(f.name) == len(n) && f.refuses(n) {
			e.refused = refusalFound{n, f.reason, true}
			return
		}
	}
}

// CloneHeaders copies a header list and its strings, for a list kept
// past the request it was decided for (Request).
func CloneHeaders(h [][2]string) [][2]string {
	if len(h) == 0 {
		return nil
	}
	out := make([][2]string, len(h))
	for i, kv := range h {
		out[i] = [2]string{strings.Clone(kv[0]), strings.Clone(kv[1])}
	}
	return out
}

// Headers is a request's header list as the host hands it over. Names
// compare without regard to case.
type Headers = token.Headers

// HeaderList is a header list held in Go memory (token.HeaderList).
type HeaderList = token.HeaderList

// RemoveNames is the set of the names decisions remove (Decision.Remove,
// SameHeaderName): a header it may not hold matches none of them, which
// saves comparing it with each.
func (e *Engine) RemoveNames() *headermap.NameSet { return &e.removeNames }

// SameHeaderName compares header names without regard to case, taking
// "_" and "-" for one character: CGI, WSGI, PHP and Rack read
// X_Auth_Level as HTTP_X_AUTH_LEVEL, the same variable as X-Auth-Level.
// forwarded is lower case.
func SameHeaderName(name, forwarded string) bool {
	if len(name) != len(forwarded) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c, f := name[i], forwarded[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == '_' {
			c = '-'
		}
		if f == '_' {
			f = '-'
		}
		if c != f {
			return false
		}
	}
	return true
}

var errMethodOverride = errors.New("the query names _method, which Rails, Laravel and Symfony take as the request's method")

// methodOverride reports whether a request target's query has a
// _method parameter (its name percent-decoded), the override
// frameworks read instead of the request's method. A form body's
// _method the filter does not see (docs/policy.md).
func methodOverride(target string) bool {
	q := indexByte(target, '?')
	if q < 0 {
		return false
	}
	query := target[q+1:]
	if !strings.Contains(query, "method") && !strings.Contains(query, "%") {
		return false
	}
	for part := range strings.SplitSeq(query, "&") {
		name, _, _ := strings.Cut(part, "=")
		if decoded, err := url.QueryUnescape(name); err == nil {
			name = decoded
		}
		if name == "_method" {
			return true
		}
	}
	return false
}

// indexByte is strings.IndexByte for the short strings of a request:
// inside wasm that is three calls deep (IndexByteString, memchr), this a
// loop in place.
func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

type errClientSent string

func (e errClientSent) Error() string {
	return "the client sent " + string(e) + ", which Kong's host cannot keep from the upstream"
}

// forwarded is what one identity header carries, read once from the
// configuration: switching on the field's name for every header of
// every request would compare strings inside wasm.
type forwarded struct {
	field forwardField
	extra int // Identity.Extra's index of a forwarded claim
}

type forwardField uint8

const (
	forwardNothing forwardField = iota
	forwardClaim
	forwardSubject
	forwardLevel
	forwardRoles
	forwardIssuer
)

var forwardFields = map[string]forwardField{config.FieldClaim: forwardClaim, "subject": forwardSubject, "level": forwardLevel, "roles": forwardRoles, "issuer": forwardIssuer}

// forward lists the identity headers to set. It reuses the engine's
// buffer: a decision's Set is valid until the engine's next decision.
func (e *Engine) forward(id *token.Identity) [][2]string {
	out := e.setBuf[:0]
	for i, f := range e.forwards {
		var v string
		switch f.field {
		case forwardClaim:
			if f.extra < len(id.Extra) { // an opaque token's identity has none
				v = id.Extra[f.extra]
			}
		case forwardSubject:
			v = id.Subject
		case forwardLevel:
			if l := id.Level; 0 <= l && l <= 9 {
				v = digits[l : l+1] // the usual levels, without strconv's call
			} else {
				v = strconv.Itoa(l)
			}
		case forwardRoles:
			v = joinRoles(id.Roles)
		case forwardIssuer:
			v = id.Issuer
		}
		if v != "" && validHeaderValue(v) {
			out = append(out, [2]string{e.remove[i], v})
		}
	}
	e.setBuf = out
	return out
}

const digits = "0123456789"

// joinRoles lists roles for the roles header, separated by commas. A
// role that holds a comma, or is empty, cannot be told apart in such a
// list (a token role "x,admin" would read as the role admin upstream),
// so it is left out: the upstream sees fewer roles, never one the token
// does not hold.
func joinRoles(roles []string) string {
	listable := func(r string) bool { return r != "" && strings.IndexByte(r, ',') < 0 }
	if len(roles) == 1 && listable(roles[0]) {
		return roles[0] // the usual case, without a copy
	}
	var b strings.Builder
	for _, r := range roles {
		if listable(r) {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(r)
		}
	}
	return b.String()
}

// validHeaderValue refuses values a client could use to smuggle a header
// through a claim (CR, LF, NUL and other controls).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
