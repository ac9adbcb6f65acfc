package filter

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/keycard-gw/keycard/table"
)

// The decision as one log line.

// Shadowing reports whether any part of the policy is in shadow mode.
func (e *Engine) Shadowing() bool {
	if e.cfg.Shadow || len(e.cfg.ShadowServices) > 0 {
		return true
	}
	for i := range e.tb.NumRoutes() {
		if e.tb.Rule(i).Flags&table.FlagShadow != 0 {
			return true
		}
	}
	return false
}

// LogLine is a denial (or, under shadow mode, a would-be denial) as one
// structured log line: the policy and its table's hash, the service and
// route, status, reason, and the caller as a SHA-256 prefix of its
// subject — never the token.
func (e *Engine) LogLine(d *Decision) string {
	kind := "deny"
	if d.Shadow {
		kind = "shadow-deny"
	}
	h := e.tb.Hash()
	s := "keycard: " + kind + " policy=" + e.cfg.Policy + " table=" + hex.EncodeToString(h[:4]) +
		" status=" + strconv.Itoa(d.Status) + " reason=" + d.Reason
	if d.Service != "" {
		s += " service=" + d.Service
	}
	if d.Route >= 0 {
		s += " route=" + e.tb.RoutePattern(d.Route)
	}
	if d.Identity != nil {
		sum := sha256.Sum256([]byte(d.Identity.Subject))
		s += " subject=sha256:" + hex.EncodeToString(sum[:8])
	}
	if d.Detail != "" {
		s += " detail=" + strconv.Quote(d.Detail)
	}
	return s
}

// String renders a decision for logs and explain. It avoids fmt, which
// is slow inside wasm, because the filter logs every denial.
func (d Decision) String() string {
	verdict := "allow"
	if !d.Allow {
		verdict = strconv.Itoa(d.Status)
	}
	s := verdict + " (" + d.Reason + ")"
	if d.Service != "" {
		s += " service=" + d.Service
	}
	if d.RouteLine > 0 {
		s += " route at line " + strconv.Itoa(d.RouteLine)
	}
	if d.Detail != "" {
		s += ": " + d.Detail
	}
	return s
}
