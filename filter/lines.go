package filter

// byLine holds rules (scopes, conditions) by the policy line they were
// written on. Most routes have none: a bit per line answers for those
// without the map lookup, which inside wasm is a call and a hash.
type byLine[T any] struct {
	lines []uint64 // bit l: some rule is on line l
	rules map[int][]T
}

func (b *byLine[T]) add(line int, r T) {
	if line < 0 {
		return // no policy line is negative; a rule there could never be found
	}
	for line/64 >= len(b.lines) {
		b.lines = append(b.lines, 0)
	}
	b.lines[line/64] |= 1 << (line % 64)
	if b.rules == nil {
		b.rules = map[int][]T{}
	}
	b.rules[line] = append(b.rules[line], r)
}

// at is the rules written on line, in the order added.
func (b *byLine[T]) at(line int) []T {
	if line < 0 || line/64 >= len(b.lines) || b.lines[line/64]&(1<<(line%64)) == 0 {
		return nil
	}
	return b.rules[line]
}

// empty reports whether no rule was added.
func (b *byLine[T]) empty() bool { return len(b.rules) == 0 }
