//go:build wasip1

package abi

import (
	"time"
	"unsafe"
)

//go:wasmimport wasi_snapshot_preview1 clock_time_get
func clockTimeGet(id uint32, precision uint64, out unsafe.Pointer) uint32

const clockRealtime = 0

// nowNanos is clock_time_get's out-parameter (a package variable, so
// that its address does not move a local to the heap).
var nowNanos uint64

// Now is the host's wall clock with one host call: time.Now reads the
// wall clock and the monotonic one, two calls on wasip1. The filter
// compares times only with times it read the same way (token expiry,
// cache lifetimes), so it needs no monotonic reading.
func Now() time.Time {
	if clockTimeGet(clockRealtime, 1, unsafe.Pointer(&nowNanos)) != 0 {
		return time.Now()
	}
	return time.Unix(0, int64(nowNanos))
}
