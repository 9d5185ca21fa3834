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
// run in parallel there as well (up to Prism's 8 concurrent bundles); but a
// chunk that takes a fraction of a second never stalls a tick, so the
// chunks are dealt over job.Lanes lanes (the machine's cores), each its own
// stage and bundle, and that many chunks run side by side from the first
// one. On Dataflow the shuffle spreads chunks over workers and dynamic work
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
// stored plan of a resumed job) → spread over workers, in job.Lanes lanes.
// A pipeline applies its per-chunk step to every lane (ForEachLane).
func Chunks(s beam.Scope, job config.Job) []beam.PCollection {
	names := make([]string, len(job.Tables))
	for i, t := range job.Tables {
		names[i] = t.Plan.Source
	}
	return chunksOf(s, job, names, nil)
}

// chunksOf is Chunks for some of the job's tables; with after set, their
// planning starts only once after is complete (a side input).
func chunksOf(s beam.Scope, job config.Job, names []string, after *beam.PCollection) []beam.PCollection {
	tables := beam.CreateList(s.Scope("tables"), names)
	if after != nil {
		tables = beam.ParDo(s.Scope("after-parents"), &transforms.AfterFn{}, tables, beam.SideInput{Input: *after})
	}
	if len(names) > 1 {
		tables = beam.Reshuffle(s.Scope("spread-tables"), tables)
	}
	chunks := beam.ParDo(s.Scope("plan"), &transforms.PlanChunksFn{Base: transforms.Base{Job: job}}, tables)
	if job.Lanes <= 1 {
		return []beam.PCollection{beam.Reshuffle(s.Scope("spread"), chunks)}
	}
	// Lanes: Prism runs all of a stage's pending elements as one bundle
	// and splits it only when a progress tick passes with no element
	// finished, so chunks that take a fraction of a second ran one or two
	// at a time. Dealt round-robin over n lanes, each behind its own
	// shuffle, they are n stages with a bundle each from the start (and
	// each bundle still splits when slow). On Dataflow each lane spreads
	// over all workers like the one shuffle did.
	keyed := beam.ParDo(s.Scope("deal"), &transforms.LaneFn{Lanes: job.Lanes}, chunks)
	parts := beam.Partition(s.Scope("lanes"), job.Lanes, transforms.LaneOf, keyed)
	lanes := make([]beam.PCollection, len(parts))
	for i, part := range parts {
		ls := s.Scope(fmt.Sprintf("lane-%d", i))
		lanes[i] = beam.ParDo(ls.Scope("unkey"), transforms.DropLane, beam.Reshuffle(ls.Scope("spread"), part))
	}
	return lanes
}

// ForEachLane applies the DoFn made by fn to every lane of chunks (one
// instance per lane: a DoFn value is one transform) and flattens what they
// emit.
func ForEachLane(s beam.Scope, lanes []beam.PCollection, fn func() any) beam.PCollection {
	outs := make([]beam.PCollection, len(lanes))
	for i, lane := range lanes {
		outs[i] = beam.ParDo(s, fn(), lane)
	}
	if len(outs) == 1 {
		return outs[0]
	}
	return beam.Flatten(s.Scope("lanes"), outs...)
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
		lanes := chunksOf(ls, job, names, prev)
		dead := ForEachLane(ls.Scope("copy"), lanes, func() any { return &transforms.CopyChunkFn{Base: transforms.Base{Job: job}} })
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
