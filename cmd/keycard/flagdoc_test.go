package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the flag tables in docs/")

// TestSidecarFlagTable keeps docs/sidecar.md's flag table the rendering
// of the sidecar's own flag set: every flag, its default, its usage.
func TestSidecarFlagTable(t *testing.T) {
	const start, end = "<!-- flags of keycard sidecar: generated from its flag set (go test ./cmd/keycard -update) -->\n", "<!-- end of flags -->\n"
	file := filepath.Join("..", "..", "docs", "sidecar.md")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, start), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no flag table markers", file)
	}
	fs, _, _, _ := sidecarFlags()
	want := doc[:i+len(start)] + flagTable(fs) + doc[j:]
	if want == doc {
		return
	}
	if *update {
		if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's flag table is not the sidecar's flag set: run go test ./cmd/keycard -update", file)
}
