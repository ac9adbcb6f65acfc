// Package docsection keeps a generated part of a document (a table
// rendered from code) in step with the code, for tests.
package docsection

import (
	"os"
	"strings"
	"testing"
)

// Check fails the test unless the part of file between the lines start
// and end (markers that include their newline) is want. With update it
// rewrites that part instead. stale is the failure's message, with %s
// for the file.
func Check(t testing.TB, file, start, end, want string, update bool, stale string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, start), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no markers %q and %q", file, start, end)
	}
	next := doc[:i+len(start)] + want + doc[j:]
	if next == doc {
		return
	}
	if update {
		if err := os.WriteFile(file, []byte(next), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf(stale, file)
}
