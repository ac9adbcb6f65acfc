package token

import "time"

// cache maps raw tokens to verified identities until the token expires.
// It is bounded: when full, an arbitrary entry (Go's map order) makes room,
// which costs O(1) and cannot be steered by a client. The filter runs one
// request at a time per VM, so it needs no lock.
type cache struct {
	max     int
	entries map[string]cacheEntry
}

type cacheEntry struct {
	id    *Identity
	err   error // a verdict of refusal: ErrInvalid or ErrExpired
	until time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, entries: make(map[string]cacheEntry)}
}

func (c *cache) get(raw string, now time.Time) (*Identity, error, bool) {
	e, ok := c.entries[raw]
	if !ok {
		return nil, nil, false
	}
	if !now.Before(e.until) {
		delete(c.entries, raw)
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
	c.entries[raw] = cacheEntry{id, err, until}
}

// CacheLen is the number of cached verified tokens.
func (v *Verifier) CacheLen() int { return len(v.cache.entries) }
