package filter

import (
	"strconv"
	"strings"
	"sync"

	"github.com/keycard-gw/keycard/filter/token"
)

// Reasons are the stable, machine-readable causes of a decision. They are
// part of the response body and of the metrics.
const (
	ReasonOK              = "ok"               // token and rule agree
	ReasonGranted         = "granted"          // a role permission covers the request
	ReasonPublic          = "public"           // public route
	ReasonDefaultAllow    = "default_allow"    // no route, service default allow
	ReasonPreflight       = "preflight"        // CORS preflight answered by the filter (204), or forwarded where the service opts in
	ReasonCORS            = "cors_not_allowed" // a CORS preflight its rule does not allow
	ReasonBadRequest      = "bad_request"      // malformed or ambiguous method, host or path
	ReasonNoService       = "no_service"       // no service is mounted at this host and path
	ReasonNoRoute         = "no_route"         // no route matches and the default denies
	ReasonNoToken         = "no_token"         // a token is needed and none was sent
	ReasonInvalidToken    = "invalid_token"    // bad signature, issuer, audience, format
	ReasonExpiredToken    = "token_expired"    // exp (or nbf) outside the leeway
	ReasonAmbiguousToken  = "ambiguous_token"  // two different tokens in one request
	ReasonLevel           = "insufficient_level"
	ReasonScope           = "insufficient_scope" // the route needs OAuth scopes the token lacks (RFC 6750 section 3.1)
	ReasonCondition       = "condition_failed"   // a claim condition of the service or route does not hold
	ReasonRole            = "missing_role"
	ReasonRevoked         = "token_revoked"  // the sidecar says revoked
	ReasonConflict        = "token_conflict" // superseded by a newer login
	ReasonDisabled        = "user_disabled"  // the sidecar says the user is disabled
	ReasonUserDenied      = "user_denied"    // a per-user deny pattern matches
	ReasonUserGranted     = "user_granted"   // a per-user allow pattern matches
	ReasonSidecar         = "sidecar_unavailable"
	ReasonKeysUnavailable = "keys_unavailable" // the issuer's keys are held by the sidecar and none have arrived
	ReasonIdentityHeader  = "identity_header"  // Kong: the client sent a forwarded header the host cannot remove
	ReasonOverrideHeader  = "override_header"  // Kong: the client sent a URL or method override header
)

// Reasons lists every reason, for metrics that are defined up front.
var Reasons = []string{ReasonOK, ReasonGranted, ReasonPublic, ReasonDefaultAllow, ReasonPreflight,
	ReasonBadRequest, ReasonNoService, ReasonNoRoute, ReasonNoToken, ReasonInvalidToken,
	ReasonExpiredToken, ReasonAmbiguousToken, ReasonLevel, ReasonRole,
	ReasonRevoked, ReasonConflict, ReasonDisabled, ReasonUserDenied, ReasonUserGranted, ReasonSidecar, ReasonKeysUnavailable, ReasonIdentityHeader, ReasonOverrideHeader, ReasonCORS, ReasonScope, ReasonCondition}

// Decision is the answer for one request.
type Decision struct {
	Allow  bool
	Status int // 0 when allowed
	Reason string
	Msg    string
	Detail string // for the log only, never the client

	Service   string // matched service name, or ""
	Route     int    // matched route (table.Table.Rule index), or -1
	RouteLine int    // its line in the policy, or 0

	// Shadow: the policy denies the request (Status and Reason say how)
	// but is in shadow mode there, so it is let through and the would-be
	// denial logged and counted.
	Shadow bool

	// Answered: the filter answers the request itself with Status and
	// the CORS headers, and no body — not a denial (a CORS preflight).
	Answered bool

	// CORS are the response headers of a cross-origin request: an
	// answered preflight's, or those to add to the filter's own answer
	// or to the upstream's.
	CORS [][2]string

	Identity *token.Identity // verified identity, when there is one
	Remove   []string        // request headers to remove (lower case), and every name that SameHeaderName matches to one
	Set      [][2]string     // request headers to set, in order; valid until the engine's next decision

	// Pending, when set, means no verdict yet: the sidecar must be asked
	// (Pending.StateQuery) and Engine.Finish called with its answer.
	Pending *Pending

	// Keys, when set, means no verdict yet: the token's issuer keys must
	// be fetched from the sidecar (or are being fetched), then the
	// request decided again.
	Keys *KeyFetch

	// Scope lists the scopes an insufficient_scope denial needed,
	// separated by spaces, for its WWW-Authenticate header.
	Scope string
}

// Body is the seeds' response envelope with the reason added. The bytes
// are shared between decisions with the same status, message and reason
// (made once: inside wasm building them costs a few microseconds); the
// caller must not change them.
func (d *Decision) Body() []byte {
	k := bodyKey{d.Status, d.Msg, d.Reason}
	bodies.mu.Lock()
	defer bodies.mu.Unlock()
	if b, ok := bodies.m[k]; ok {
		return b
	}
	b := d.encodeBody()
	if len(bodies.m) < 256 { // statuses, messages and reasons are constants: a handful
		bodies.m[k] = b
	}
	return b
}

type bodyKey struct {
	status      int
	msg, reason string
}

var bodies = struct {
	mu sync.Mutex
	m  map[bodyKey][]byte
}{m: map[bodyKey][]byte{}}

func (d *Decision) encodeBody() []byte {
	var b strings.Builder
	b.Grow(96)
	b.WriteString(`{"code":`)
	b.WriteString(strconv.Itoa(d.Status))
	b.WriteString(`,"success":false,"data":"","msg":"`)
	b.WriteString(d.Msg) // constants only: no escaping needed
	b.WriteString(`","reason":"`)
	b.WriteString(d.Reason)
	b.WriteString(`"}`)
	return []byte(b.String())
}

// ResponseHeaders are the headers of a local response, shared: the
// caller must not change them.
func (d *Decision) ResponseHeaders() [][2]string {
	switch {
	case d.Reason == ReasonScope:
		return append(jsonHeaders[:2:2], [2]string{"www-authenticate", `Bearer error="insufficient_scope", scope="` + d.Scope + `"`})
	case d.Status != 401:
		return jsonHeaders
	case d.Reason == ReasonNoToken:
		return noTokenHeaders
	default:
		return badTokenHeaders
	}
}

var (
	jsonHeaders     = [][2]string{{"content-type", "application/json; charset=utf-8"}, {"cache-control", "no-store"}}
	noTokenHeaders  = append(jsonHeaders[:2:2], [2]string{"www-authenticate", "Bearer"})
	badTokenHeaders = append(jsonHeaders[:2:2], [2]string{"www-authenticate", `Bearer error="invalid_token"`})
)

var statusMsg = map[int]string{400: "Bad Request", 401: "UnAuthorized", 403: "Forbidden", 404: "Not Found", 503: "Service Unavailable"}

func deny(status int, reason string) Decision {
	msg := statusMsg[status]
	switch reason { // the seeds' messages
	case ReasonExpiredToken:
		msg = "Token Expired"
	case ReasonConflict:
		msg = "Token Conflict"
	case ReasonRevoked:
		msg = "Token Revoked"
	}
	return Decision{Status: status, Reason: reason, Msg: msg, Route: -1}
}
