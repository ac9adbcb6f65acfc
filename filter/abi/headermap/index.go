package headermap

// Index reads a serialized map in place. Reset makes one pass that notes
// where each pair lies; a lookup then compares only the names as long as
// the one asked for, and answers at once for a length no name has, so
// the many questions a request asks of its headers cost one parse and no
// allocation. Its strings share the map's memory: they are valid while
// that is. The zero Index is an empty map.
type Index struct {
	data  string
	pairs []span
	lens  lengths // of the names
}

// span is where one pair lies in the data.
type span struct{ key, keyLen, value, valueLen uint32 }

// Reset indexes data, reusing the index's memory. Reading stops at the
// first pair whose sizes run past the end: a host that sends one is
// broken, and the pairs before it are still what it sent.
func (x *Index) Reset(data string) {
	x.data, x.pairs, x.lens = data, x.pairs[:0], 0
	if len(data) < 4 {
		return
	}
	n := int(le32(data))
	if n > (len(data)-4)/8 {
		return
	}
	p := 4 + 8*n
	for i := range n {
		kl, vl := int(le32(data[4+8*i:])), int(le32(data[8+8*i:]))
		if kl > len(data) || vl > len(data) || p+kl+1+vl+1 > len(data) {
			return
		}
		x.pairs = append(x.pairs, span{uint32(p), uint32(kl), uint32(p + kl + 1), uint32(vl)})
		x.lens |= lengthBit(kl)
		p += kl + 1 + vl + 1
	}
}

func le32(s string) uint32 {
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// lengths is a set of name lengths: bit n for a name of n bytes, bit 63
// for any of 63 or more. One AND tells that a name is of no length in it.
type lengths uint64

func lengthBit(n int) lengths { return 1 << min(n, 63) }

// has reports whether name's length is in the set.
func (l lengths) has(name string) bool { return l&lengthBit(len(name)) != 0 }

// Len is the number of pairs.
func (x *Index) Len() int { return len(x.pairs) }

func (x *Index) name(s span) string  { return x.data[s.key : s.key+s.keyLen] }
func (x *Index) value(s span) string { return x.data[s.value : s.value+s.valueLen] }

// EqualName reports whether a header's name k is name, an HTTP token, in
// any ASCII case: how the filter matches the names it asks for, in a
// host's map and in a list of its own alike. For such a name that is
// strings.EqualFold, except that no other rune folds to a letter: the
// only ones that would (U+017F, U+212A) are longer than the letters, and
// a name that holds them is not the header asked for. It saves
// EqualFold's call and rune decoding for names that differ in case only
// (Kong hands the client's spelling over: "Host").
func EqualName(k, name string) bool {
	if len(k) != len(name) {
		return false
	}
	for i := 0; i < len(k); i++ {
		a, b := k[i], name[i]
		if a == b {
			continue
		}
		if a|0x20 != b|0x20 || a|0x20 < 'a' || a|0x20 > 'z' {
			return false
		}
	}
	return true
}

// Get returns the first value of a header and whether there is one. The
// names asked for, here and below, are lower-case HTTP tokens (ASCII);
// the map's names match them in any case.
func (x *Index) Get(name string) (string, bool) {
	v, at := x.Next(name, 0)
	return v, at >= 0
}

// Next returns the first value of a header at pair from or after it, and
// that pair's position, or -1 when there is none. Values one after the
// other: for v, at := x.Next(name, 0); at >= 0; v, at = x.Next(name,
// at+1) — each pair is looked at once, where asking for the i-th value
// would start again from the first pair each time.
func (x *Index) Next(name string, from int) (string, int) {
	if !x.lens.has(name) {
		return "", -1
	}
	for i := max(from, 0); i < len(x.pairs); i++ {
		// The length first, in the loop: most pairs stop there, and a
		// call per pair costs more than the comparison inside wasm.
		if s := x.pairs[i]; int(s.keyLen) == len(name) && EqualName(x.name(s), name) {
			return x.value(s), i
		}
	}
	return "", -1
}

// Values returns every value of a header.
func (x *Index) Values(name string) []string {
	if !x.lens.has(name) {
		return nil
	}
	var out []string
	for _, s := range x.pairs {
		if int(s.keyLen) == len(name) && EqualName(x.name(s), name) {
			out = append(out, x.value(s))
		}
	}
	return out
}

// Each calls fn for every pair in order.
func (x *Index) Each(fn func(name, value string)) {
	for _, s := range x.pairs {
		fn(x.name(s), x.value(s))
	}
}

// EachIn calls fn, in order, for every pair whose name set may hold
// (NameSet.May): the pairs that may bear one of its names. A map with no
// name of the set's lengths is not walked at all.
func (x *Index) EachIn(set *NameSet, fn func(name, value string)) {
	if x.lens&set.lens == 0 {
		return
	}
	for _, s := range x.pairs {
		if n := x.name(s); set.May(n) {
			fn(n, x.value(s))
		}
	}
}

// NameSet is a quick filter for a few header names compared as
// forwarded names are (any case, "_" for "-"): a name whose length and
// last byte none of them shares is none of them, told without comparing
// it to each. Browser requests carry a dozen headers of the same lengths
// as the names a filter strips (user-agent and x-auth-sub); their last
// bytes mostly differ.
type NameSet struct {
	lens lengths
	ends [64]uint32 // by length (63: 63 or more), a bit per class of last byte
}

// Add puts name in the set.
func (s *NameSet) Add(name string) {
	if name == "" {
		return // no header is nameless; an empty name matches nothing
	}
	s.lens |= lengthBit(len(name))
	s.ends[min(len(name), 63)] |= endClass(name[len(name)-1])
}

// May reports whether name may be one of the set's: false means it is
// none of them, in any case and with "_" for "-".
func (s *NameSet) May(name string) bool {
	return name != "" && s.ends[min(len(name), 63)]&endClass(name[len(name)-1]) != 0
}

// endClass is a last byte's bit: a letter's in either case, one for "-"
// and "_", one for digits, and four for all other bytes, which compare
// exactly.
func endClass(c byte) uint32 {
	switch l := c | 0x20; {
	case 'a' <= l && l <= 'z':
		return 1 << (l - 'a')
	case c == '-' || c == '_':
		return 1 << 26
	case '0' <= c && c <= '9':
		return 1 << 27
	}
	return 1 << (28 + c&3)
}
