// Package wasmfloor measures how fast public-key arithmetic can be inside
// wasm when the filter's verification path is taken out of the picture.
//
// Its benchmarks, compiled for wasip1 and run in wazero (make
// bench-floor), set crypto/rsa's and crypto/ecdsa's whole verification
// beside the bare modular exponentiation RS256 needs (s^e mod n), done
// by math/big and by a Montgomery multiplication written for wasm:
// 32-bit limbs, so every product is one native 64-bit multiply, and an
// inner loop unrolled by eight, because the Go compiler turns every
// basic block of a wasm function into a trip through a jump table.
//
// The Montgomery code is a measuring instrument, not part of Keycard:
// the filter verifies through golang-jwt and the standard library.
package wasmfloor
