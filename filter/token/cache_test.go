package token

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestSameToken: the word-at-a-time comparison is ==, whatever the
// length and wherever two strings differ.
func TestSameToken(t *testing.T) {
	for n := 0; n <= 40; n++ {
		a := strings.Repeat("x", n)
		if !sameToken(a, strings.Clone(a)) {
			t.Errorf("%d bytes: equal strings differ", n)
		}
		if n > 0 && sameToken(a, a[:n-1]) {
			t.Errorf("%d bytes: equal to a prefix", n)
		}
		for i := range n {
			b := []byte(a)
			b[i] = 'y'
			if sameToken(a, string(b)) {
				t.Errorf("%d bytes: a difference at %d not seen", n, i)
			}
		}
	}
}

// TestCacheCollision: tokens that share a key (length and last 16
// bytes) never answer for each other; the later one takes the place.
func TestCacheCollision(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newCache(8)
	tail := strings.Repeat("s", 16)
	a, b := "header.payloadA."+tail, "header.payloadB."+tail
	if cacheKey(a) != cacheKey(b) {
		t.Fatal("the two tokens were meant to share a key")
	}
	idA := &Identity{Subject: "a"}
	c.put(a, idA, nil, now.Add(time.Minute), now)
	if _, _, ok := c.get(b, now); ok {
		t.Fatal("b found a's entry")
	}
	if id, _, ok := c.get(a, now); !ok || id != idA {
		t.Fatal("a lost its entry")
	}
	c.put(b, &Identity{Subject: "b"}, nil, now.Add(time.Minute), now)
	if _, _, ok := c.get(a, now); ok {
		t.Fatal("a still found after b took the key")
	}
	if id, _, ok := c.get(b, now); !ok || id.Subject != "b" {
		t.Fatal("b not found")
	}
	if _, _, ok := c.get(b, now.Add(time.Minute)); ok {
		t.Fatal("an expired entry answered")
	}
}

// TestCacheExpiry: an entry answers until the instant it ends and not
// at it, and one that ends beyond what Unix nanoseconds hold (year 9999)
// answers now and ends no later than its token.
func TestCacheExpiry(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	end := now.Add(time.Minute)
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newCache(4)
	c.put("near", &Identity{Subject: "n"}, nil, end, now)
	c.put("far", &Identity{Subject: "f"}, nil, far, now)
	for _, tc := range []struct {
		raw  string
		at   time.Time
		want bool
	}{
		{"near", now, true},
		{"near", end.Add(-time.Nanosecond), true},
		{"near", end, false},
		{"far", now, true},
		{"far", time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC), true},
	} {
		if _, _, ok := c.get(tc.raw, tc.at); ok != tc.want {
			t.Errorf("%s at %v: cached %v, want %v", tc.raw, tc.at, ok, tc.want)
		}
	}
	if got := unixNanos(far); got != math.MaxInt64 {
		t.Errorf("unixNanos(year 9999) = %d, want the latest int64", got)
	}
}
