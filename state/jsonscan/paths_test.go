package jsonscan

import (
	"fmt"
	"strings"
	"testing"
)

func TestPaths(t *testing.T) {
	paths := [][]string{{"sub"}, {"realm_access", "roles"}, {"resource_access", "shop-api", "roles"}, {"https://shop.example/roles"}}
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"all found", `{"sub":"u","realm_access":{"roles":["a","b"]},"resource_access":{"other":{"roles":["x"]},"shop-api":{"roles":["c"]}},"https://shop.example/roles":["d"]}`,
			`0="u" 1=["a","b"] 2=["c"] 3=["d"]`},
		{"missing and not objects", `{"realm_access":"roles","resource_access":{"shop-api":[1]}}`, ``},
		{"a leaf twice", `{"sub":"a","sub":"b"}`, `error: claim sub given twice`},
		{"an inner member twice", `{"realm_access":{"roles":["a"]},"realm_access":{}}`, `error: claim realm_access given twice`},
		{"twice deeper", `{"realm_access":{"roles":["a"],"roles":["admin"]}}`, `error: claim roles given twice`},
		{"other members twice are not ours", `{"x":1,"x":2,"sub":"u"}`, `0="u"`},
		{"not an object", `["sub"]`, `error: malformed JSON`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := Paths([]byte(tc.doc), paths, func(i int, raw []byte) error {
				got = append(got, fmt.Sprintf("%d=%s", i, raw))
				return nil
			})
			s := strings.Join(got, " ")
			if err != nil {
				s = "error: " + err.Error()
			}
			if s != tc.want {
				t.Errorf("got %s\nwant %s", s, tc.want)
			}
		})
	}
}

func FuzzPaths(f *testing.F) {
	f.Add([]byte(`{"a":{"b":[1]},"c":"d"}`))
	paths := [][]string{{"a", "b"}, {"c"}, {"a", "x", "y"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = Paths(data, paths, func(int, []byte) error { return nil })
	})
}
