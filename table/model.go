package table

import (
	"errors"
	"math/bits"
)

// Magic opens every encoded table; Version is the format version this
// package reads and writes.
const (
	Magic   = "KCDT"
	Version = 1
)

// Format faults. Decode wraps one of these with the detail of what is wrong.
var (
	ErrBadMagic = errors.New("table: bad magic")
	ErrVersion  = errors.New("table: unsupported format version")
	ErrCorrupt  = errors.New("table: corrupt")
)

// MaxRoles is how many distinct roles one policy may name: a role set is a
// fixed 256-bit set so that checking it never allocates.
const MaxRoles = 256

// RoleBits is a set of role indices (see Table.RoleIndex).
type RoleBits [MaxRoles / 64]uint64

// Set adds role i to the set.
func (b *RoleBits) Set(i int) { b[i/64] |= 1 << (uint(i) % 64) }

// Has reports whether role i is in the set.
func (b RoleBits) Has(i int) bool { return b[i/64]&(1<<(uint(i)%64)) != 0 }

// Intersects reports whether the two sets share a role.
func (b RoleBits) Intersects(o RoleBits) bool {
	for i := range b {
		if b[i]&o[i] != 0 {
			return true
		}
	}
	return false
}

// Empty reports whether the set has no role.
func (b RoleBits) Empty() bool { return b == RoleBits{} }

// Len is the number of roles in the set.
func (b RoleBits) Len() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// MethodSet is a set of HTTP methods; the zero set means "any method".
type MethodSet uint16

// The methods a route may name.
const (
	MethodGet MethodSet = 1 << iota
	MethodHead
	MethodPost
	MethodPut
	MethodPatch
	MethodDelete
	MethodOptions
	MethodConnect
	MethodTrace
	methodAll = 1<<iota - 1
)

var methodNames = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// ParseMethod returns the bit of an upper-case method name, or 0 when the
// name is not one of the known methods (lower-case names are unknown).
func ParseMethod(m string) MethodSet {
	for i, n := range methodNames {
		if sameString(n, m) { // inside wasm, == on equal lengths calls memequal
			return 1 << i
		}
	}
	return 0
}

// MethodNames lists the known methods in bit order.
func MethodNames() []string { return append([]string(nil), methodNames[:]...) }

// WithHead adds HEAD to a set that holds GET: Go's mux, nginx, Express,
// Flask and Spring answer HEAD with the GET handler, so a rule that
// covers GET must cover HEAD too, or HEAD would walk around it.
func WithHead(s MethodSet) MethodSet {
	if s&MethodGet != 0 {
		s |= MethodHead
	}
	return s
}

// Allows reports whether a request with method bit m matches the set. An
// empty set matches every method, including unknown ones.
func (s MethodSet) Allows(m MethodSet) bool { return s == 0 || s&m != 0 }

// String lists the set's methods separated by commas, or "*" for any.
func (s MethodSet) String() string {
	if s == 0 {
		return "*"
	}
	out := ""
	for i, n := range methodNames {
		if s&(1<<i) != 0 {
			if out != "" {
				out += ","
			}
			out += n
		}
	}
	return out
}

// Flags qualify a rule.
type Flags uint8

const (
	// FlagPublic: the route needs no token.
	FlagPublic Flags = 1 << iota
	// FlagTokenOptional: on a public route, a token that is present is
	// verified and its identity forwarded.
	FlagTokenOptional
	// FlagShadow: the route is in shadow mode: a denial is logged and
	// counted, and the request let through.
	FlagShadow
	flagsAll = 1<<iota - 1
)

// Default says what happens to a request that reaches a service but
// matches none of its routes.
type Default uint8

const (
	DefaultDeny     Default = iota // 403
	DefaultNotFound                // 404
	DefaultAllow                   // passes without a token
	defaultCount
)

func (d Default) String() string {
	switch d {
	case DefaultDeny:
		return "deny"
	case DefaultNotFound:
		return "not_found"
	case DefaultAllow:
		return "allow"
	}
	return "invalid"
}

// Rule is what a matched route requires. Routes that require the same
// share one rule; Line is the route's own.
type Rule struct {
	Level   uint8
	Flags   Flags
	Methods MethodSet
	RoleSet uint16 // index into the table's role sets; 0 is the empty set
	Line    uint32 // source line of the route, for explain and logs
}

// SegmentKind tells a pattern segment's kind.
type SegmentKind uint8

const (
	SegLiteral SegmentKind = iota // matches itself
	SegParam                      // {name} or *: exactly one segment
	SegRest                       // **: any rest, also none; last only
)

// Segment is one element of a parsed path pattern.
type Segment struct {
	Kind SegmentKind
	Lit  string
}

// Spec is the input of Build: what the compiler checked.
type Spec struct {
	Roles    []string // role names; a name's index is its bit in RoleBits
	Services []ServiceSpec
	Grants   []GrantSpec
}

// ServiceSpec describes one service.
type ServiceSpec struct {
	Name    string
	Mounts  []Mount
	Default Default
	Routes  []RouteSpec
}

// Mount selects a service: a host (lower case, or "*.suffix") and a path
// prefix ("/" or "/seg/..." without trailing slash).
type Mount struct {
	Host   string
	Prefix string
}

// RouteSpec is one route of a service.
type RouteSpec struct {
	Pattern  string
	Segments []Segment
	Level    uint8
	Flags    Flags
	Methods  MethodSet
	Roles    RoleBits
	Line     int
}

// GrantSpec is one role permission: holders of Roles may make requests
// whose method is in Methods and whose full path matches Segments, or
// Regex when it is not empty.
type GrantSpec struct {
	Pattern  string
	Segments []Segment
	Regex    string
	Methods  MethodSet
	Roles    RoleBits
	Line     int
}
