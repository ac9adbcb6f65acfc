package token

import (
	"math"
	"strings"
	"time"
)

// cache maps raw tokens to verified identities until the token expires.
// It is bounded: when full, an arbitrary entry (Go's map order) makes room,
// which costs O(1) and cannot be steered by a client. The filter runs one
// request at a time per VM, so it needs no lock.
type cache struct {
	max     int
	entries map[uint64]cacheEntry // by cacheKey; the entry holds the whole token
}

// cacheKey is where a token's entry lies: its length and last 16 bytes
// (signature bytes, which differ between tokens) folded into one word.
// Inside wasm a string key is costly twice over: memhash has no assembly
// there, and == compares one byte per loop turn. Tokens whose keys
// collide only take each other's place; a hit still compares the whole
// token (sameToken).
func cacheKey(raw string) uint64 {
	k := uint64(len(raw))
	tail := raw[max(len(raw)-16, 0):]
	for ; len(tail) >= 8; tail = tail[8:] {
		k = k*0x9e3779b97f4a7c15 ^ le64(tail)
	}
	for i := 0; i < len(tail); i++ {
		k = k*0x100000001b3 ^ uint64(tail[i])
	}
	return k
}

// sameToken is a == b, eight bytes at a time: a token is hundreds of
// bytes, and inside wasm == compares them one by one.
func sameToken(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	i := 0
	for ; i+8 <= len(a); i += 8 {
		if le64(a[i:]) != le64(b[i:]) {
			return false
		}
	}
	for ; i < len(a); i++ {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// le64 is s's first eight bytes as a little-endian word: the compiler
// makes it one load, in wasm as elsewhere.
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

type cacheEntry struct {
	raw   string
	id    *Identity
	err   error // a verdict of refusal: ErrInvalid or ErrExpired
	until int64 // Unix nanoseconds (unixNanos): one comparison, where time.Time.Before is a call inside wasm
}

// unixNanos is t in Unix nanoseconds, or the latest time that int64
// holds for any later one (an expiry centuries away): the entry then
// ends earlier than the token, never later.
func unixNanos(t time.Time) int64 {
	if t.After(latestNanos) {
		return math.MaxInt64
	}
	return t.UnixNano()
}

var latestNanos = time.Unix(0, math.MaxInt64)

func newCache(max int) *cache {
	return &cache{max: max, entries: make(map[uint64]cacheEntry)}
}

func (c *cache) get(raw string, now time.Time) (*Identity, error, bool) {
	k := cacheKey(raw)
	e, ok := c.entries[k]
	if !ok || !sameToken(e.raw, raw) {
		return nil, nil, false
	}
	if now.UnixNano() >= e.until {
		delete(c.entries, k)
		return nil, nil, false
	}
	return e.id, e.err, true
}

func (c *cache) put(raw string, id *Identity, err error, until, now time.Time) {
	if c.max <= 0 || !now.Before(until) {
		return
	}
	if len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	// The token may live in memory the host reuses for the next request
	// (filter/abi's scratch buffer): the cache keeps its own copy.
	raw = strings.Clone(raw)
	c.entries[cacheKey(raw)] = cacheEntry{raw, id, err, unixNanos(until)}
}

// CacheLen is the number of cached verified tokens.
func (v *Verifier) CacheLen() int { return len(v.cache.entries) }
