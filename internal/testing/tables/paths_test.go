package tables

import (
	"flag"
	"path/filepath"
	"testing"

	"github.com/keycard-gw/keycard/internal/testing/docsection"
)

var update = flag.Bool("update", false, "rewrite the path table in docs/policy.md")

const (
	tableStart = "<!-- path table: rendered from internal/testing/tables/paths.go; go test ./internal/testing/tables -update -->\n"
	tableEnd   = "<!-- end of path table -->\n"
)

// TestPathTableInDocs keeps docs/policy.md's path table the rendering of
// Paths, the table every host's tests run.
func TestPathTableInDocs(t *testing.T) {
	docsection.Check(t, filepath.Join("..", "..", "..", "docs", "policy.md"), tableStart, tableEnd, PathTable(), *update,
		"%s's path table is not the rendering of Paths(): run go test ./internal/testing/tables -update")
}
