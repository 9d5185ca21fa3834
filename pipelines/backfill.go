// Package pipelines owns the shape of livemigrate's Beam pipelines.
//
// The one idea: every job pipeline is the data path read top to bottom —
// plan → read → convert → protect → write (→ verify) — and they all share
// one front half, Chunks: table names → plan (or the stored plan) → a
// shuffle, so chunks of every table spread over all workers, and each chunk
// is then handled end to end by one DoFn call. (Table names are shuffled
// too, so big tables plan on different workers.) On Prism every chunk after
// the shuffle lands in one bundle, and the runner splits that bundle
// whenever a progress tick passes with no element finished, so slow chunks
// run in parallel there as well (up to Prism's 8 concurrent bundles;
// measured from the progress table's StartedAt/DoneAt: 20 chunks of 10,000
// rows reached 5 to 8 chunks in flight within about 1 s of the first); on
// Dataflow the shuffle spreads chunks over workers and dynamic work
// rebalancing splits stragglers. Every DoFn carries the same config.Job.
package pipelines

import (
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/transforms"
)

// Chunks is the front half every job pipeline shares: the job's table
// names → the chunks still to handle (planned, or read back from the
// stored plan of a resumed job) → spread over workers.
func Chunks(s beam.Scope, job config.Job) beam.PCollection {
	names := make([]string, len(job.Tables))
	for i, t := range job.Tables {
		names[i] = t.Plan.Source
	}
	return chunksOf(s, job, names, nil)
}

// chunksOf is Chunks for some of the job's tables; with after set, their
// planning starts only once after is complete (a side input).
func chunksOf(s beam.Scope, job config.Job, names []string, after *beam.PCollection) beam.PCollection {
	tables := beam.CreateList(s.Scope("tables"), names)
	if after != nil {
		tables = beam.ParDo(s.Scope("after-parents"), &transforms.AfterFn{}, tables, beam.SideInput{Input: *after})
	}
	if len(names) > 1 {
		tables = beam.Reshuffle(s.Scope("spread-tables"), tables)
	}
	chunks := beam.ParDo(s.Scope("plan"), &transforms.PlanChunksFn{Base: transforms.Base{Job: job}}, tables)
	return beam.Reshuffle(s.Scope("spread"), chunks)
}

// Backfill builds the backfill pipeline of job: Chunks → copy each chunk.
// Tables are copied in levels (schema.Levels): tables interleaved in a
// parent are planned only once the previous level's copy is complete,
// because Spanner refuses a child row whose parent row is not there yet.
// Without interleaving there is one level: plan → shuffle → copy.
func Backfill(job config.Job) *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()
	levels := schema.Levels(job.Plans())
	var prev *beam.PCollection
	var deads []beam.PCollection
	for i, names := range levels {
		ls := s
		if len(levels) > 1 {
			ls = s.Scope(fmt.Sprintf("level-%d", i))
		}
		chunks := chunksOf(ls, job, names, prev)
		dead := beam.ParDo(ls.Scope("copy"), &transforms.CopyChunkFn{Base: transforms.Base{Job: job}}, chunks)
		deads = append(deads, dead)
		prev = &deads[len(deads)-1]
	}
	all := deads[0]
	if len(deads) > 1 {
		all = beam.Flatten(s.Scope("all-levels"), deads...)
	}
	stats.Sum(s.Scope("dead-lettered"), all)
	return p
}
