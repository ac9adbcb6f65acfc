package config

import (
	"errors"
	"fmt"
	"strings"
)

// ParseClaimPath reads a claim path: member names from the top of the
// token's claims, separated by dots (realm_access.roles); a name that
// holds a dot, a slash or a quote is written in double quotes, with \"
// and \\ inside (resource_access."shop-api".roles,
// "https://shop.example/roles").
func ParseClaimPath(s string) ([]string, error) {
	if s == "" {
		return nil, errors.New("empty claim path")
	}
	var segs []string
	for i := 0; i < len(s); {
		var seg string
		if s[i] == '"' {
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) && (s[j+1] == '"' || s[j+1] == '\\') {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("claim path %q: a quote is not closed", s)
			}
			seg, i = b.String(), j+1
		} else {
			j := strings.IndexAny(s[i:], `."`)
			if j < 0 {
				j = len(s) - i
			}
			seg, i = s[i:i+j], i+j
			if strings.ContainsAny(seg, " \t") {
				return nil, fmt.Errorf("claim path %q: quote a name with spaces", s)
			}
		}
		if seg == "" {
			return nil, fmt.Errorf("claim path %q: an empty name", s)
		}
		segs = append(segs, seg)
		if i < len(s) {
			if s[i] != '.' || i+1 == len(s) {
				return nil, fmt.Errorf("claim path %q: names are separated by single dots", s)
			}
			i++
		}
	}
	if len(segs) > 8 {
		return nil, fmt.Errorf("claim path %q: more than 8 names", s)
	}
	return segs, nil
}
