//go:build wasip1

package abi

import "unsafe"

// live keeps the buffers the host asked for during the current host call
// reachable until the wrapper has taken its slice. It is reset after every
// call; its backing array is reused, so allocation costs one make.
var live [][]byte

func allocate(size uint32) uint32 {
	if size == 0 {
		size = 1 // a distinct, valid address even for empty data
	}
	b := make([]byte, size)
	live = append(live, b)
	return uint32(uintptr(unsafe.Pointer(&b[0])))
}

// take returns the buffer the host filled at ptr with size bytes, and
// forgets every buffer of the call.
func take(ptr, size uint32) []byte {
	defer release()
	if ptr == 0 || size == 0 {
		return nil
	}
	for _, b := range live {
		if uint32(uintptr(unsafe.Pointer(&b[0]))) == ptr && int(size) <= len(b) {
			return b[:size:size]
		}
	}
	return nil // the host returned memory it did not get from us
}

func release() {
	clear(live)
	live = live[:0]
}

func ptrOf(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func strPtr(s string) unsafe.Pointer {
	if s == "" {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}
