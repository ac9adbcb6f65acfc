//go:build unix

package wasmhost

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// reservedMemory backs a module's linear memory the way V8 and Wasmtime
// do: the whole maximum is reserved as address space up front and pages
// are committed by the kernel when first touched, so memory.grow never
// moves or copies what the module already holds. wazero's default
// backing is a Go slice that is reallocated and copied on growth, which
// makes a module that grows to hundreds of MiB (a configuration of a
// million routes) pay for copies no real host makes.
type reservedMemory struct{ buf []byte }

// memoryAllocator reserves each memory; where the reservation fails it
// falls back to a slice that copies on growth, as wazero's own backing.
var memoryAllocator experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(reserveMemory)

func reserveMemory(_, max uint64) experimental.LinearMemory {
	if max == 0 || max > 1<<32 {
		max = 1 << 32
	}
	buf, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|mapNoReserve)
	if err != nil {
		return &copiedMemory{}
	}
	return &reservedMemory{buf: buf}
}

// Reallocate grows (or sets) the memory's length within the reservation;
// the bytes never move.
func (m *reservedMemory) Reallocate(size uint64) []byte {
	if size > uint64(cap(m.buf)) {
		return nil
	}
	return m.buf[:size]
}

// Free returns the reservation when the module closes.
func (m *reservedMemory) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf[:cap(m.buf)])
		m.buf = nil
	}
}

// copiedMemory is wazero's own way: a slice reallocated on growth.
type copiedMemory struct{ buf []byte }

func (m *copiedMemory) Reallocate(size uint64) []byte {
	if size > uint64(cap(m.buf)) {
		grown := make([]byte, size)
		copy(grown, m.buf)
		m.buf = grown
	}
	m.buf = m.buf[:size]
	return m.buf
}

func (m *copiedMemory) Free() { m.buf = nil }
