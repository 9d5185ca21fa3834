// Package pipelines owns the shape of livemigrate's Beam pipelines.
//
// The one idea: the pipeline is the data path read top to bottom — plan →
// read → convert → protect → write — with a shuffle between planning and
// copying, so chunks of every table spread over all workers, and each chunk
// is copied end to end by one DoFn call. (Table names are shuffled too, so
// big tables plan on different workers.) On Prism every chunk after the
// shuffle lands in one bundle, and the runner splits that bundle whenever a
// progress tick passes with no element finished, so slow chunks run in
// parallel there as well (up to Prism's 8 concurrent bundles; measured from
// the progress table's StartedAt/DoneAt: 20 chunks of 10,000 rows reached 5
// to 8 chunks in flight within about 1 s of the first); on Dataflow
// the shuffle spreads chunks over workers and dynamic work rebalancing splits
// stragglers. Each worker process reads through one pool capped at
// source.max_connections, shared by planning and copying.
package pipelines

import (
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/spec"
	"github.com/livemigrate/livemigrate/transforms"
)

// Backfill is everything a backfill pipeline is built from.
type Backfill struct {
	Source   spec.Source
	Database string
	Tables   []schema.TablePlan
	Chunking chunking.Options
	// PerTable overrides Chunking per source table (the spec's chunking).
	PerTable map[string]chunking.Options
	// JobID names the job in the progress table of the target database;
	// rerunning a JobID copies only chunks not recorded as done. Empty: no
	// checkpointing.
	JobID    string
	PageRows int
	Batch    transforms.BatchLimits
	// DeadLetter is the local directory or gs:// prefix that receives the
	// dead-lettered rows as JSON lines, one file per chunk, written before
	// the chunk is marked done. Empty: they are counted but not written.
	DeadLetter string
}

// Build adds the backfill to a fresh pipeline. Tables are copied in
// levels (schema.Levels): tables interleaved in a parent are planned only
// once the previous level's copy is complete — the planner's input waits on
// a side input of that copy's output — because Spanner refuses a child row
// whose parent row is not there yet. Without interleaving there is one
// level and the pipeline is plan → shuffle → copy.
func (b Backfill) Build() *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()
	levels := schema.Levels(b.Tables)
	var prev beam.PCollection
	var deads []beam.PCollection
	for i, names := range levels {
		ls := s
		if len(levels) > 1 {
			ls = s.Scope(fmt.Sprintf("level-%d", i))
		}
		tables := beam.CreateList(ls.Scope("tables"), names)
		if i > 0 {
			tables = beam.ParDo(ls.Scope("after-parents"), &transforms.AfterFn{}, tables, beam.SideInput{Input: prev})
		}
		if len(names) > 1 {
			tables = beam.Reshuffle(ls.Scope("spread-tables"), tables)
		}
		chunks := beam.ParDo(ls.Scope("plan"), &transforms.PlanChunksFn{Source: b.Source, Tables: b.Tables, Chunking: b.Chunking,
			PerTable: b.PerTable, Database: b.Database, JobID: b.JobID}, tables)
		chunks = beam.Reshuffle(ls.Scope("spread"), chunks)
		copyFn := transforms.CopyChunkFn{
			Source: b.Source, Database: b.Database, Tables: b.Tables, PageRows: b.PageRows, Batch: b.Batch, JobID: b.JobID,
			DeadLetterDir: b.DeadLetter,
		}
		var dead beam.PCollection
		if interleaved(b.Tables, names) {
			dead = beam.ParDo(ls.Scope("copy"), &transforms.CopyInterleavedFn{Copy: copyFn}, chunks)
		} else {
			dead = beam.ParDo(ls.Scope("copy"), &copyFn, chunks)
		}
		deads = append(deads, dead)
		prev = dead
	}
	all := deads[0]
	if len(deads) > 1 {
		all = beam.Flatten(s.Scope("all-levels"), deads...)
	}
	stats.Sum(s.Scope("dead-lettered"), all)
	return p
}

// interleaved reports whether any of the named tables is interleaved.
func interleaved(plans []schema.TablePlan, names []string) bool {
	for _, p := range plans {
		for _, n := range names {
			if p.Source == n && p.Interleave != nil {
				return true
			}
		}
	}
	return false
}
