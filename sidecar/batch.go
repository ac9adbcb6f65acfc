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
// that arrive together share one pipeline: a request that finds no
// sender running starts one at once (no request ever waits for a timer),
// and those that arrive while a pipeline is out go together in the next.
type readBatcher struct {
	rdb redis.UniversalClient

	mu      sync.Mutex
	pending []*stateRead
	running int // pipelines being sent or read

	reads, pipelines atomic.Uint64
}

// Bounds of the batching. One sender makes the largest batches; another
// starts only when more reads wait than the senders running can take in
// their next pipelines, so that a slow Redis (a remote one, or one that
// fails and so takes the client's timeouts and retries) does not hold
// every read behind one pipeline.
const (
	maxBatch   = 64 // reads in one pipeline
	maxSenders = 8  // pipelines out at once
)

// stateRead is one answer's four reads: the token, the user's document
// and clear time, and the service's roles.
type stateRead struct {
	tokKey, userKey, clearedKey, rolesKey string
	ctx                                   context.Context // the request's: a read whose request is gone is not sent

	tok     *redis.MapStringStringCmd
	doc     *redis.StringCmd
	cleared *redis.StringCmd
	roles   *redis.MapStringStringCmd
	done    chan struct{}
}

// read runs r's commands, batched with whatever else is waiting, and
// returns when they are answered (each command holds its own result or
// error, a lost connection included) or ctx ends.
func (b *readBatcher) read(ctx context.Context, r *stateRead) error {
	r.ctx, r.done = ctx, make(chan struct{})
	b.mu.Lock()
	b.pending = append(b.pending, r)
	send := b.running == 0 || (len(b.pending) > b.running*maxBatch && b.running < maxSenders)
	if send {
		b.running++
	}
	b.mu.Unlock()
	if send {
		// In a goroutine of its own, so that this request, like every
		// other in the batch, gives up at its own deadline however long
		// a failing Redis takes to answer the pipeline.
		go b.send()
	}
	select {
	case <-r.done:
		if r.tok == nil { // skipped: its request ended while it waited
			return ctx.Err()
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// send takes batches of the pending reads and runs them until none is
// pending.
func (b *readBatcher) send() {
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.pending = nil
			b.running--
			b.mu.Unlock()
			return
		}
		n := min(len(b.pending), maxBatch)
		batch := b.pending[:n:n]
		b.pending = b.pending[n:]
		b.mu.Unlock()
		b.run(batch)
	}
}

// run sends one pipeline for the batch. Its context is not any one
// request's: a request that gives up must not fail the others in its
// batch; the client's own read and write timeouts bound it.
func (b *readBatcher) run(batch []*stateRead) {
	ctx := context.Background()
	p := b.rdb.Pipeline()
	sent := 0
	for _, r := range batch {
		if r.ctx.Err() != nil {
			// Its request gave up while it waited (the filter's timeout,
			// say, while Redis is slow): nobody reads the answer.
			continue
		}
		r.tok = p.HGetAll(ctx, r.tokKey)
		r.doc = p.Get(ctx, r.userKey)
		r.cleared = p.Get(ctx, r.clearedKey)
		r.roles = p.HGetAll(ctx, r.rolesKey)
		sent++
	}
	if sent > 0 {
		_, _ = p.Exec(ctx) // each command holds its own result or error
		b.reads.Add(uint64(sent))
		b.pipelines.Add(1)
	}
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
