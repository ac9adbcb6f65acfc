package jsonscan

import "errors"

// MaxPathSegments bounds a claim path: a token's claims are a few levels
// deep at most (resource_access.<client>.roles is three).
const MaxPathSegments = 8

// Paths finds the values of several member paths in the object data holds
// in one pass over it, descending only into the members a path names:
// paths[i] is a list of member names from the top. fn gets each value
// found, as raw JSON text, with its path's index. A member a path names
// given twice at any level is an error: which copy a reader believes is
// not the scanner's to choose. A path whose member is missing, or runs
// into a value that is not an object, is not found.
func Paths(data []byte, paths [][]string, fn func(i int, raw []byte) error) error {
	idx := make([]int, 0, len(paths))
	for i, p := range paths {
		if len(p) > 0 { // an empty path names nothing
			idx = append(idx, i)
		}
	}
	return paths0(data, paths, idx, 0, fn)
}

func paths0(data []byte, paths [][]string, idx []int, depth int, fn func(int, []byte) error) error {
	var seen []string // the names of this level a path takes, to refuse a second copy
	return Object(data, func(key, raw []byte) error {
		named := false
		for _, i := range idx {
			named = named || string(key) == paths[i][depth]
		}
		if !named {
			return nil
		}
		for _, n := range seen {
			if n == string(key) {
				return errors.New("claim " + n + " given twice")
			}
		}
		seen = append(seen, string(key))
		var deeper []int
		for _, i := range idx {
			p := paths[i]
			switch {
			case string(key) != p[depth]:
			case depth+1 < len(p):
				deeper = append(deeper, i)
			default:
				if err := fn(i, raw); err != nil {
					return err
				}
			}
		}
		if len(deeper) > 0 && len(raw) > 0 && raw[0] == '{' {
			return paths0(raw, paths, deeper, depth+1, fn)
		}
		return nil
	})
}
