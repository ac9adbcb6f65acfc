package main

import (
	"flag"
	"fmt"
	"strings"
)

// flagTable renders a command's flags as the markdown table the docs
// show: name, default and usage, as --help prints them (the note of a
// flag's environment variable, which says whether it is set here, left
// out: the docs say every flag has one).
func flagTable(fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString("| flag | default | |\n|---|---|---|\n")
	fs.VisitAll(func(f *flag.Flag) {
		usage, _, _ := strings.Cut(f.Usage, " (default $")
		def := f.DefValue
		switch def {
		case "", "[]":
			def = ""
		default:
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | %s | %s |\n", f.Name, def, strings.ReplaceAll(usage, "|", "\\|"))
	})
	return b.String()
}
