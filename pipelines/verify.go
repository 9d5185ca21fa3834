package pipelines

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/transforms"
)

// Verify builds the verify pipeline of job (job.Verify set, job.ID the
// run id): Chunks → verify each source chunk against Spanner by key; and,
// once every table's chunk plan is stored (the chunks are a side input
// only to wait for that), the table names → their Spanner key ranges, cut
// at the plan's bounds → a shuffle → scan each range for keys the source
// does not hold. Each unit stores its result in the target's verify
// tables; the stages emit drift counts, summed.
func Verify(job config.Job) *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()
	lanes := Chunks(s, job)
	src := ForEachLane(s.Scope("verify-chunks"), lanes, func() any { return &transforms.VerifyChunkFn{VerifyBase: transforms.NewVerifyBase(job)} })
	chunks := lanes[0]
	if len(lanes) > 1 {
		chunks = beam.Flatten(s.Scope("planned"), lanes...)
	}

	names := make([]string, len(job.Tables))
	for i, t := range job.Tables {
		names[i] = t.Plan.Source
	}
	tables := beam.CreateList(s.Scope("range-tables"), names)
	ranges := beam.ParDo(s.Scope("plan-ranges"), &transforms.PlanRangesFn{VerifyBase: transforms.NewVerifyBase(job)}, tables,
		beam.SideInput{Input: chunks})
	ranges = beam.Reshuffle(s.Scope("spread-ranges"), ranges)
	dst := beam.ParDo(s.Scope("verify-ranges"), &transforms.VerifyRangeFn{VerifyBase: transforms.NewVerifyBase(job)}, ranges)

	stats.Sum(s.Scope("drift"), beam.Flatten(s.Scope("all"), src, dst))
	return p
}
