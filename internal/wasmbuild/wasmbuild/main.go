// Command wasmbuild builds build/keycard.wasm for `make wasm`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/keycard-gw/keycard/internal/wasmbuild"
)

func main() {
	out := flag.String("o", "build/keycard.wasm", "output file")
	flag.Parse()
	if err := wasmbuild.Build(".", "./filter/wasm", *out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
