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

// ProxyOnMemoryAllocate is where a host puts what a host call answers.
// The usual case, an answer that fits the scratch buffer, is a few
// additions written here, in the export itself: a call more per answer
// costs inside wasm. The rest is allocateSlow.
//
//go:wasmexport proxy_on_memory_allocate
func ProxyOnMemoryAllocate(size uint32) uint32 {
	n := int(max(size, 1)) // a distinct, valid address even for empty data
	if aligned := (n + 7) &^ 7; scratch.on && scratch.off+aligned <= len(scratch.buf) {
		off := scratch.off
		scratch.last, scratch.size, scratch.off = off, n, off+aligned
		return uint32(uintptr(unsafe.Pointer(&scratch.buf[off])))
	}
	return allocateSlow(n)
}

// allocateSlow grows the scratch buffer, or allocates outside it.
func allocateSlow(n int) uint32 {
	if scratch.on {
		// Not listed in live: the scratch buffer is reachable anyway,
		// and clearing live's pointers costs write barriers.
		b := scratchTake(n)
		return uint32(uintptr(unsafe.Pointer(&b[0])))
	}
	b := make([]byte, n)
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
	// release at the end rather than deferred: a defer keeps take and
	// release from inlining, and each call costs inside wasm.
	var b []byte
	switch last := scratch.last; {
	case ptr == 0 || size == 0:
	case last >= 0 && int(size) <= scratch.size && uint32(uintptr(unsafe.Pointer(&scratch.buf[last]))) == ptr:
		b = scratch.buf[last : last+int(size) : last+int(size)]
	default:
		for _, l := range live {
			if uint32(uintptr(unsafe.Pointer(&l[0]))) == ptr && int(size) <= len(l) {
				b = l[:size:size]
				break
			}
		}
		// nil: the host returned memory it did not get from us
	}
	release()
	return b
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
