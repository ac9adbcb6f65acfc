// Package jsonscan owns a small, strict reader for the flat JSON objects
// of a JWT's header and payload, shared by the filter's token verifier
// and the token naming in package state, so that both sides read a
// token's claims the same way.
//
// encoding/json costs tens of microseconds per token inside wasm
// (reflection and a second pass through a decoder); this reads an object
// once and hands each member to a callback as raw text, decoding only
// what the caller asks for. It accepts exactly what encoding/json accepts
// as one JSON object (FuzzObject checks it against json.Valid) and falls
// back to encoding/json for the rare string with escapes. Member names are
// decoded, so "\u0065xp" is exp; refusing a duplicate is the caller's
// choice, made per member.
package jsonscan
