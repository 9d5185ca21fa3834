package transforms

import (
	"context"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/livemigrate/livemigrate/chunking"
)

func init() {
	register.DoFn3x1[context.Context, string, func(chunking.Chunk), error](&PlanChunksFn{})
	register.Emitter1[chunking.Chunk]()
}

// Planner counter names.
const (
	CChunksPlanned     = "chunks_planned"
	CChunksSkippedDone = "chunks_skipped_done"
	CPlanMillis        = "plan_ms"
)

// PlanChunksFn turns a table name into the chunks still to copy
// (copier.Engine.Plan: the stored plan of a resumed job, or a new one).
type PlanChunksFn struct {
	Base
}

// StartBundle names the counters the bundle can touch (Base.nameCounters).
func (f *PlanChunksFn) StartBundle(ctx context.Context, _ func(chunking.Chunk)) {
	f.nameCounters(ctx, CChunksPlanned, CChunksSkippedDone, CPlanMillis)
}

// ProcessElement plans one table.
func (f *PlanChunksFn) ProcessElement(ctx context.Context, table string, emit func(chunking.Chunk)) error {
	res, err := f.eng.Plan(ctx, table)
	countThrottle(ctx, &f.Base)
	if err != nil {
		return err
	}
	ns := CounterNamespace + table
	beam.NewCounter(ns, CChunksPlanned).Inc(ctx, int64(res.Total))
	beam.NewCounter(ns, CChunksSkippedDone).Inc(ctx, int64(res.Done))
	if res.Resumed {
		log.Infof(ctx, "table %s: resuming job %s, %d of %d chunks already done", table, f.Job.ID, res.Done, res.Total)
	} else {
		beam.NewCounter(ns, CPlanMillis).Inc(ctx, res.Elapsed.Milliseconds())
		log.Infof(ctx, "table %s: %d chunks planned in %v", table, res.Total, res.Elapsed.Round(time.Millisecond))
	}
	for _, c := range res.Chunks {
		emit(c)
	}
	return nil
}
