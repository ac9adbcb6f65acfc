//go:build !unix

package wasmhost

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator: nil leaves the memory to wazero's own backing, which
// copies on growth; only the figures of very large configurations differ.
var memoryAllocator experimental.MemoryAllocator
