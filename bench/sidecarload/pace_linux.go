package main

import (
	"runtime"
	"syscall"
	"time"
)

// pacer sleeps the scheduler until a request is due. Go's timers sleep
// through the network poller, whose wait has millisecond granularity: a
// 50 µs sleep in an idle process lasts about 1.1 ms here, so requests
// would leave in bursts up to a millisecond late, and that lateness,
// the load tool's and not the sidecar's, would count in every
// percentile. The pacer's goroutine keeps an OS thread of its own and
// sleeps with nanosleep and a timer slack of 1 ns, which wakes within
// microseconds of the time asked.
type pacer struct{}

const prSetTimerslack = 29

func newPacer() pacer {
	runtime.LockOSThread()
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerslack, 1, 0)
	return pacer{}
}

// quantum is the shortest sleep: requests due within it of each other
// leave together, at most this late, so that at 20k/s the scheduler
// wakes about half as often as there are requests.
const quantum = 100 * time.Microsecond

func (pacer) until(t time.Time) {
	d := max(time.Until(t), quantum)
	ts := syscall.NsecToTimespec(d.Nanoseconds())
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}

func (pacer) done() { runtime.UnlockOSThread() }
