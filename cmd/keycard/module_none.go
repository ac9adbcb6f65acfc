//go:build !keycard_embed

package main

// embeddedModule is empty in a build without the keycard_embed tag (go
// build, go test): such a binary builds the module from the checkout it
// runs in, or is given one with --wasm.
var embeddedModule []byte
