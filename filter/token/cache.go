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
	until time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, entries: make(map[string]cacheEntry)}
}

func (c *cache) get(raw string, now time.Time) (*Identity, bool) {
	e, ok := c.entries[raw]
	if !ok {
		return nil, false
	}
	if !now.Before(e.until) {
		delete(c.entries, raw)
		return nil, false
	}
	return e.id, true
}

func (c *cache) put(raw string, id *Identity, until, now time.Time) {
	if c.max <= 0 || !now.Before(until) {
		return
	}
	if len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[raw] = cacheEntry{id, until}
}

// Len is the number of cached tokens.
func (v *Verifier) CacheLen() int { return len(v.cache.entries) }
