package tables

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the path table in docs/policy.md")

const (
	tableStart = "<!-- path table: rendered from internal/testing/tables/paths.go; go test ./internal/testing/tables -update -->\n"
	tableEnd   = "<!-- end of path table -->\n"
)

// TestPathTableInDocs keeps docs/policy.md's path table the rendering of
// Paths, the table every host's tests run.
func TestPathTableInDocs(t *testing.T) {
	file := filepath.Join("..", "..", "..", "docs", "policy.md")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, tableStart), strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no path table markers", file)
	}
	want := doc[:i+len(tableStart)] + PathTable() + doc[j:]
	if want == doc {
		return
	}
	if *update {
		if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's path table is not the rendering of Paths(): run go test ./internal/testing/tables -update", file)
}
