//go:build wasip1 && keycard_poison

package abi

// With the keycard_poison tag, every callback that may use what an
// earlier one read (request and response headers, call-out answers,
// ticks, deletes) first overwrites the whole scratch buffer, so that a
// test run of such a module shows any value the filter kept without
// copying it. The product's module only reuses the buffer in the next
// request's callback; the poisoned one holds the filter to the stricter
// rule it is written to: nothing read is kept past its callback.
func poisonScratch() {
	for i := range scratch.buf {
		scratch.buf[i] = '!'
	}
}
