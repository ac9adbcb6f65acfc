//go:build keycard_embed

package main

import _ "embed"

// embeddedModule is the filter built from the same commit as this
// binary (make build copies it here before building with the
// keycard_embed tag).
//
//go:embed keycard.wasm
var embeddedModule []byte
