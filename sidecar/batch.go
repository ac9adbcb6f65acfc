package sidecar

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Every answer the filter asks for costs a Redis round trip: one write
// and one read on the sidecar's side and on Redis's. On loopback, a write
// is where the kernel delivers the bytes to the other side, and under
// load those writes were half the sidecar's CPU (an HTTP answer and a
// Redis pipeline per request). readBatcher lets the reads of requests
// that arrive together share one pipeline: the first request with no
// pipeline to join sends its own at once (no request ever waits for a
// timer), and those that arrive while maxInFlight pipelines are out go
// together in the next one.
type readBatcher struct {
	rdb redis.UniversalClient

	mu      sync.Mutex
	pending []*stateRead
	running int // pipelines being sent or read

	reads, pipelines atomic.Uint64
}

// Bounds of the batching: pipelines out at once, and reads in one.
const (
	maxInFlight = 1
	maxBatch    = 64
)

// stateRead is one answer's three reads: the token, the user's document
// and the service's roles.
type stateRead struct {
	tokKey, userKey, rolesKey string

	tok   *redis.MapStringStringCmd
	doc   *redis.StringCmd
	roles *redis.MapStringStringCmd
	done  chan struct{}
}

// read runs r's commands, batched with whatever else is waiting, and
// returns when they are answered (each command holds its own result or
// error, a lost connection included) or ctx ends.
func (b *readBatcher) read(ctx context.Context, r *stateRead) error {
	r.done = make(chan struct{})
	b.mu.Lock()
	b.pending = append(b.pending, r)
	send := b.running < maxInFlight
	if send {
		b.running++
	}
	b.mu.Unlock()
	if send {
		b.send()
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// send takes one batch of the pending reads and runs it; if more came
// meanwhile, a new goroutine goes on sending, so that the request whose
// goroutine this is gets its answer without waiting for other batches.
func (b *readBatcher) send() {
	b.mu.Lock()
	n := min(len(b.pending), maxBatch)
	batch := b.pending[:n:n]
	b.pending = b.pending[n:]
	if len(b.pending) == 0 {
		b.pending = nil
	}
	b.mu.Unlock()

	if len(batch) > 0 {
		b.run(batch)
	}

	b.mu.Lock()
	more := len(b.pending) > 0
	if !more {
		b.running--
	}
	b.mu.Unlock()
	if more {
		go b.send()
	}
}

// run sends one pipeline for the batch. Its context is not any one
// request's: a request that gives up must not fail the others in its
// batch; the client's own read and write timeouts bound it.
func (b *readBatcher) run(batch []*stateRead) {
	ctx := context.Background()
	p := b.rdb.Pipeline()
	for _, r := range batch {
		r.tok = p.HGetAll(ctx, r.tokKey)
		r.doc = p.Get(ctx, r.userKey)
		r.roles = p.HGetAll(ctx, r.rolesKey)
	}
	_, _ = p.Exec(ctx) // each command holds its own result or error
	b.reads.Add(uint64(len(batch)))
	b.pipelines.Add(1)
	for _, r := range batch {
		close(r.done)
	}
}

// writeMetrics writes the batching counters in Prometheus's text format:
// reads over pipelines is the mean batch.
func (b *readBatcher) writeMetrics(w io.Writer) {
	fmt.Fprintln(w, "# HELP keycard_sidecar_state_reads_total Token states read from Redis.")
	fmt.Fprintln(w, "# TYPE keycard_sidecar_state_reads_total counter")
	fmt.Fprintf(w, "keycard_sidecar_state_reads_total %d\n", b.reads.Load())
	fmt.Fprintln(w, "# HELP keycard_sidecar_state_pipelines_total Redis pipelines those reads went in (several reads that arrive together share one).")
	fmt.Fprintln(w, "# TYPE keycard_sidecar_state_pipelines_total counter")
	fmt.Fprintf(w, "keycard_sidecar_state_pipelines_total %d\n", b.pipelines.Load())
}
