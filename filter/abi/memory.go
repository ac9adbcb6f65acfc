//go:build wasip1

package abi

import "unsafe"

// live keeps the buffers the host asked for during the current host call
// reachable until the wrapper has taken its slice. It is reset after every
// call; its backing array is reused, so allocation costs one make.
var live [][]byte

// The out-parameters of host calls. Their addresses go to the host, which
// would make locals escape to the heap on every call; the filter runs one
// callback at a time, so one pair serves every call.
var retPtr, retSize uint32

// scratch is where the answers of the host calls a request reads and then
// drops (its header map, its properties) are written: one buffer that the
// next request callback reuses, so a request allocates nothing for them.
// What the filter keeps past the callback it copies (session.Root does for
// a waiting request, the token cache for its keys). A host call that
// answers into it sets on for its duration.
var scratch struct {
	on   bool
	buf  []byte
	off  int
	last int // where the last answer was handed out, -1 for none
	size int // and its size
}

// scratchMin is the scratch buffer's first size: a usual request's header
// map and properties fit.
const scratchMin = 4096

func allocate(size uint32) uint32 {
	if size == 0 {
		size = 1 // a distinct, valid address even for empty data
	}
	if scratch.on {
		// Not listed in live: the scratch buffer is reachable anyway,
		// and clearing live's pointers costs write barriers.
		b := scratchTake(int(size))
		return uint32(uintptr(unsafe.Pointer(&b[0])))
	}
	b := make([]byte, size)
	live = append(live, b)
	return uint32(uintptr(unsafe.Pointer(&b[0])))
}

// scratchTake hands out n bytes of the scratch buffer. When they do not
// fit, a larger buffer replaces it; what this callback already read stays
// in the old one, which its readers keep alive.
func scratchTake(n int) []byte {
	aligned := (n + 7) &^ 7
	if scratch.off+aligned > len(scratch.buf) {
		scratch.buf = make([]byte, max(2*len(scratch.buf), aligned, scratchMin))
		scratch.off = 0
	}
	b := scratch.buf[scratch.off : scratch.off+n : scratch.off+n]
	scratch.last, scratch.size = scratch.off, n
	scratch.off += aligned
	return b
}

// resetScratch starts a request callback: what earlier callbacks read
// into the scratch buffer is overwritten from here on.
func resetScratch() {
	scratch.off = 0
	poisonScratch()
}

// take returns the buffer the host filled at ptr with size bytes, and
// forgets every buffer of the call.
func take(ptr, size uint32) []byte {
	defer release()
	if ptr == 0 || size == 0 {
		return nil
	}
	if last := scratch.last; last >= 0 && int(size) <= scratch.size && uint32(uintptr(unsafe.Pointer(&scratch.buf[last]))) == ptr {
		return scratch.buf[last : last+int(size) : last+int(size)]
	}
	for _, b := range live {
		if uint32(uintptr(unsafe.Pointer(&b[0]))) == ptr && int(size) <= len(b) {
			return b[:size:size]
		}
	}
	return nil // the host returned memory it did not get from us
}

func release() {
	if len(live) > 0 {
		clear(live)
		live = live[:0]
	}
	scratch.on, scratch.last = false, -1
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
