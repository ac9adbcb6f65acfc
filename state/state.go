// Package state owns the token-state answer: the small JSON document the
// sidecar's read endpoint returns and the filter decides with, and how a
// token is named to the sidecar. It is a contract package (types,
// constants, decoding with validation) that builds for the filter.
package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Version is the answer format version. 2: questions name the token's
// service, kind, issuer, subject and iat (Name), not its id alone.
const Version = 2

// Token states.
const (
	Active   = "active"
	Revoked  = "revoked"
	Conflict = "conflict" // superseded by a newer login of the same user
	Unknown  = "unknown"
)

// User statuses.
const (
	Enabled  = "enabled"
	Disabled = "disabled"
)

// Answer is what the sidecar knows about a token and its user.
type Answer struct {
	Version int      `json:"v"`
	Token   string   `json:"token"`           // Active, Revoked, Conflict or Unknown
	User    string   `json:"user,omitempty"`  // the token's user (opaque tokens), or the subject asked about
	Status  string   `json:"status"`          // Enabled or Disabled
	Level   int      `json:"level,omitempty"` // the user's level, for opaque tokens
	Roles   []string `json:"roles,omitempty"` // the user's roles (role ids)
	Allow   []string `json:"allow,omitempty"` // per-user allow patterns (RE2, matched against the whole path)
	Deny    []string `json:"deny,omitempty"`  // per-user deny patterns
}

// MaxAnswer bounds the answer size the filter reads.
const MaxAnswer = 64 << 10

// Decode parses and checks an answer. Anything unexpected is an error:
// the filter then applies its on_error rule, never a guess.
func Decode(data []byte) (*Answer, error) {
	if len(data) > MaxAnswer {
		return nil, fmt.Errorf("state: answer of %d bytes, at most %d", len(data), MaxAnswer)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var a Answer
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if dec.More() {
		return nil, errors.New("state: data after the answer")
	}
	if a.Version != Version {
		return nil, fmt.Errorf("state: version %d, this build reads %d", a.Version, Version)
	}
	switch a.Token {
	case Active, Revoked, Conflict, Unknown:
	default:
		return nil, fmt.Errorf("state: token state %q", a.Token)
	}
	switch a.Status {
	case Enabled, Disabled:
	default:
		return nil, fmt.Errorf("state: user status %q", a.Status)
	}
	if a.Level < 0 || a.Level > 255 {
		return nil, fmt.Errorf("state: level %d", a.Level)
	}
	return &a, nil
}

// SignedID names a token by what its signature covers: for a JWT (three
// segments) the SHA-256 of "header.payload", else of the whole token (an
// opaque token). A JWT's signature segment can be rewritten without
// changing what it proves — an ECDSA (r, s) verifies as (r, n−s) too,
// and base64url's last character has spare bits that decoders ignore —
// so a name taken from the whole string would let a revoked token come
// back under a new name, unknown to the sidecar.
func SignedID(raw string) string {
	if i := strings.LastIndexByte(raw, '.'); i > 0 && strings.Count(raw, ".") == 2 {
		return HashID(raw[:i])
	}
	return HashID(raw)
}

// HashID is the SHA-256 name of a token.
func HashID(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// JTIID is the name of a token with a jti.
func JTIID(jti string) string { return "jti:" + jti }
