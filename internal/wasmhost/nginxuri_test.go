package wasmhost

import (
	"strings"
	"testing"
)

// FuzzNginxURI: the fast path (a path with nothing to decode, merge or
// resolve) gives what the full reading gives.
func FuzzNginxURI(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a/b/?x=1", "/a?", "/a#f", "/a?x#y", "/a//b", "/a/./b", "/%61", "/a/.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		got, err := NginxURI(target)
		path, args, hasArgs := strings.Cut(target, "?")
		if i := strings.IndexByte(path, '#'); i >= 0 {
			path, args, hasArgs = path[:i], "", false
		}
		if path == "" || path[0] != '/' {
			return
		}
		want, wantErr := nginxComplexURI(path, args, hasArgs)
		if got != want || (err == nil) != (wantErr == nil) {
			t.Fatalf("NginxURI(%q) = %q, %v; the full reading gives %q, %v", target, got, err, want, wantErr)
		}
	})
}
