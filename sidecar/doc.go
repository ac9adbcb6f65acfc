// Package sidecar owns `keycard sidecar`: the HTTP service between the
// filter and Redis that keeps token state that changes at run time
// (revoked tokens, tokens superseded by a newer login, opaque tokens,
// disabled users, role bindings), with seed 002's business API in front.
//
// Redis layout: docs/sidecar.md, "Redis layout" (the one description;
// the key builders in store.go follow it). Every key part is
// length-prefixed, so any id is storable and no two ids share a key.
package sidecar
