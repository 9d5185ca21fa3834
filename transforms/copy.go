package transforms

import (
	"context"
	"errors"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/copier"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*chunking.Chunk)(nil)).Elem())
	register.DoFn3x1[context.Context, chunking.Chunk, func(int64), error](&CopyChunkFn{})
	register.Emitter1[int64]()
}

// Counter names; the namespace is CounterNamespace + table.
const (
	CounterNamespace  = "livemigrate/"
	CRowsRead         = "rows_read"
	CRowsWritten      = "rows_written"
	CRowsDeadLettered = "rows_dead_lettered"
	CRowsSkipped      = "rows_skipped_existing"
	CRowsNewer        = "rows_skipped_newer"
	CRowsTombstoned   = "rows_skipped_tombstoned"
	CRowsRemoved      = "rows_removed_revalidation"
	CCellsNulled      = "cells_nulled"
	CBytesRead        = "bytes_read"
	CChunksDone       = "chunks_done"
	CChunksStopped    = "chunks_stopped"
	CReadRetries      = "read_retries"
)

// Throttle counters (namespace ThrottleNamespace): milliseconds the
// workers' gates spent throttled and paused, and queries spent waiting.
const (
	ThrottleNamespace = "livemigrate.throttle"
	CThrottledMillis  = "throttled_ms"
	CPausedMillis     = "paused_ms"
	CWaitedMillis     = "waited_ms"
)

// countThrottle adds this worker's new throttled, paused and waiting time
// to the job's counters.
func countThrottle(ctx context.Context, b *Base) {
	throttled, paused, waited := b.eng.ThrottleDelta()
	if throttled > 0 {
		beam.NewCounter(ThrottleNamespace, CThrottledMillis).Inc(ctx, throttled.Milliseconds())
	}
	if paused > 0 {
		beam.NewCounter(ThrottleNamespace, CPausedMillis).Inc(ctx, paused.Milliseconds())
	}
	if waited > 0 {
		beam.NewCounter(ThrottleNamespace, CWaitedMillis).Inc(ctx, waited.Milliseconds())
	}
}

// CopyChunkFn copies one chunk (copier.Engine.Copy) and emits how many rows
// it dead-lettered. (The emitted count also gives this long-running stage
// an output: Prism busy-waits on a stage without one.)
type CopyChunkFn struct {
	Base
}

// copyCounters are the per-table counters CopyChunkFn increments.
var copyCounters = []string{CRowsRead, CBytesRead, CReadRetries, CRowsWritten, CRowsSkipped, CRowsNewer,
	CRowsTombstoned, CRowsRemoved, CRowsDeadLettered, CCellsNulled, CChunksStopped, CChunksDone}

// StartBundle names the counters the bundle can touch (Base.nameCounters).
func (f *CopyChunkFn) StartBundle(ctx context.Context, _ func(int64)) {
	f.nameCounters(ctx, copyCounters...)
}

// ProcessElement copies chunk c, stores its dead letters, marks it done.
func (f *CopyChunkFn) ProcessElement(ctx context.Context, c chunking.Chunk, emit func(int64)) error {
	st, err := f.eng.Copy(ctx, c, func(ctx context.Context, c chunking.Chunk, dls []copier.DeadLetter) error {
		return WriteDeadLetters(ctx, f.Job.DeadLetter, c, dls)
	})
	countThrottle(ctx, &f.Base)
	ns := CounterNamespace + c.Table
	beam.NewCounter(ns, CRowsRead).Inc(ctx, st.Read.Rows)
	beam.NewCounter(ns, CBytesRead).Inc(ctx, st.Read.Bytes)
	beam.NewCounter(ns, CReadRetries).Inc(ctx, int64(st.Read.Retries))
	beam.NewCounter(ns, CRowsWritten).Inc(ctx, st.Write.Written)
	beam.NewCounter(ns, CRowsSkipped).Inc(ctx, st.Write.SkippedExisted)
	beam.NewCounter(ns, CRowsNewer).Inc(ctx, st.Write.SkippedNewer)
	beam.NewCounter(ns, CRowsTombstoned).Inc(ctx, st.Write.SkippedTombstoned)
	beam.NewCounter(ns, CRowsRemoved).Inc(ctx, st.Write.Removed)
	beam.NewCounter(ns, CRowsDeadLettered).Inc(ctx, st.DeadLettered)
	beam.NewCounter(ns, CCellsNulled).Inc(ctx, st.CellsNulled)
	if errors.Is(err, copier.ErrStopped) {
		// The job is stopping (an interrupt, or another run took it
		// over): the chunk stays not done, and the pipeline drains
		// instead of failing.
		beam.NewCounter(ns, CChunksStopped).Inc(ctx, 1)
		return nil
	}
	if err != nil {
		return err
	}
	beam.NewCounter(ns, CChunksDone).Inc(ctx, 1)
	emit(st.DeadLettered)
	log.Debugf(ctx, "chunk %s: read %d, written %d, existing %d, dead-lettered %d", c, st.Read.Rows, st.Write.Written, st.Write.SkippedExisted, st.DeadLettered)
	return nil
}
