package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keycard-gw/keycard/internal/testing/docsection"
)

var update = flag.Bool("update", false, "rewrite the flag tables in docs/")

// TestSidecarFlagTable keeps docs/sidecar.md's flag table the rendering
// of the sidecar's own flag set: every flag, its default, its usage.
func TestSidecarFlagTable(t *testing.T) {
	const start, end = "<!-- flags of keycard sidecar: generated from its flag set (go test ./cmd/keycard -update) -->\n", "<!-- end of flags -->\n"
	fs, _, _, _ := sidecarFlags()
	docsection.Check(t, filepath.Join("..", "..", "docs", "sidecar.md"), start, end, flagTable(fs), *update,
		"%s's flag table is not the sidecar's flag set: run go test ./cmd/keycard -update")
}

// TestREADMEFlags: every flag README's CLI table names is a flag of that
// command, as its --help lists it.
func TestREADMEFlags(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "## The CLI\n")
	table, _, _ = strings.Cut(table, "\n\n")
	flagRE := regexp.MustCompile(`--[a-z][a-z-]*`)
	rows := 0
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| `keycard ") {
			continue
		}
		rows++
		cell, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "` |")
		fields := strings.Fields(cell)
		help := []string{fields[1], "--help"}
		switch fields[1] {
		case "render":
			help = []string{"render", "kong", "--help"}
		case "image":
			help = []string{"image", "push", "--help"}
		}
		_, out, _ := runCLI(t, help...)
		for _, f := range flagRE.FindAllString(cell, -1) {
			if !strings.Contains(out, "  -"+f[2:]+" ") && !strings.Contains(out, "  -"+f[2:]+"\n") {
				t.Errorf("README: keycard %s %s is not a flag of the command", fields[1], f)
			}
		}
	}
	if rows < 10 {
		t.Fatalf("README's CLI table has %d rows", rows)
	}
}
