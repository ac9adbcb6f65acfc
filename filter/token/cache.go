package token

import (
	"strings"
	"time"
)

// cache maps raw tokens to verified identities until the token expires.
// It is bounded: when full, an arbitrary entry (Go's map order) makes room,
// which costs O(1) and cannot be steered by a client. The filter runs one
// request at a time per VM, so it needs no lock.
type cache struct {
	max     int
	entries map[string]cacheEntry // by cacheKey; the entry holds the whole token
}

// cacheKey is the token's last 32 bytes (signature bytes, which differ
// between tokens): hashing a whole token costs microseconds inside wasm,
// where memhash has no assembly. A hit still compares the whole token.
func cacheKey(raw string) string {
	if len(raw) > 32 {
		return raw[len(raw)-32:]
	}
	return raw
}

type cacheEntry struct {
	raw   string
	id    *Identity
	err   error // a verdict of refusal: ErrInvalid or ErrExpired
	until time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, entries: make(map[string]cacheEntry)}
}

func (c *cache) get(raw string, now time.Time) (*Identity, error, bool) {
	k := cacheKey(raw)
	e, ok := c.entries[k]
	if !ok || e.raw != raw {
		return nil, nil, false
	}
	if !now.Before(e.until) {
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
	c.entries[cacheKey(raw)] = cacheEntry{raw, id, err, until}
}

// CacheLen is the number of cached verified tokens.
func (v *Verifier) CacheLen() int { return len(v.cache.entries) }
