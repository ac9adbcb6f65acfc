// Package sidecar owns `keycard sidecar`: the HTTP service between the
// filter and Redis that keeps token state that changes at run time
// (revoked tokens, tokens superseded by a newer login, opaque tokens,
// disabled users, role bindings), with seed 002's business API in front.
//
// Redis layout (prefix P, default "keycard:"; S is a service id, U a user
// id, I a token id as state.TokenID names it — never a raw token):
//
//	P{S:U}:tok:I   hash  state (active|revoked|conflict), kind (opaque|jwt), exp
//	               TTL: the token's lifetime
//	P{S:U}:tokens  hash  I -> exp, the user's tokens (clearToken, single session)
//	               TTL: the longest lifetime among them; expired entries are
//	               pruned on every write
//	P{S:U}:user    string JSON of /user/roles (roles, excludes, type, status)
//	               TTL: --user-ttl, renewed on every write
//	P{S}:roles     hash  role id -> JSON permissions (/role/roles); bounded by
//	               the number of roles, renewed with --user-ttl
//	Pidx:I         string "S\nU": which user a token belongs to (opaque
//	               tokens, registered logins); TTL: the token's lifetime
//
// The {S:U} hash tag keeps one user's keys in one Redis Cluster slot, so
// the writes that must be atomic (issue, login with single session,
// revoke, clear) run as one Lua script each. Clearing a user costs one
// write per token of that user.
package sidecar
