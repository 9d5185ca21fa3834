package transforms

import (
	"context"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/spanner"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/source"
	"github.com/livemigrate/livemigrate/spec"
	"github.com/livemigrate/livemigrate/target"
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

// PlanChunksFn turns a table name into the chunks still to copy. With a
// JobID it keeps the plan in the progress table (package checkpoint): the
// first run stores it, a rerun reads it back and emits only chunks not done.
type PlanChunksFn struct {
	Source   spec.Source        `json:"source"`
	Tables   []schema.TablePlan `json:"tables"`
	Chunking chunking.Options   `json:"chunking"`
	// PerTable overrides Chunking for some tables (the spec's chunking).
	PerTable map[string]chunking.Options `json:"per_table,omitempty"`
	// Database and JobID locate the progress table; empty JobID: no
	// checkpointing, every chunk is emitted.
	Database string `json:"database,omitempty"`
	JobID    string `json:"job_id,omitempty"`
}

// ProcessElement plans one table.
func (f *PlanChunksFn) ProcessElement(ctx context.Context, table string, emit func(chunking.Chunk)) error {
	var p *schema.TablePlan
	for i := range f.Tables {
		if f.Tables[i].Source == table {
			p = &f.Tables[i]
		}
	}
	if p == nil {
		return fmt.Errorf("plan: table %q not in plan", table)
	}
	ns := CounterNamespace + table
	var client *spanner.Client
	keyCols := keyColumnNames(p)
	if f.JobID != "" {
		var err error
		if client, err = target.Client(ctx, f.Database); err != nil {
			return err
		}
		stored, ok, err := checkpoint.Load(ctx, client, f.JobID, table)
		if err != nil {
			return err
		}
		if ok {
			if stored.KeyColumns != keyCols {
				return fmt.Errorf("job %s planned table %s by key (%s), the spec now says (%s); use a new --job-id", f.JobID, table, stored.KeyColumns, keyCols)
			}
			beam.NewCounter(ns, CChunksPlanned).Inc(ctx, int64(len(stored.Chunks)))
			beam.NewCounter(ns, CChunksSkippedDone).Inc(ctx, int64(len(stored.Done)))
			log.Infof(ctx, "table %s: resuming job %s, %d of %d chunks already done", table, f.JobID, len(stored.Done), len(stored.Chunks))
			for _, c := range stored.Chunks {
				if !stored.Done[c.ID] {
					emit(c)
				}
			}
			return nil
		}
	}
	db, err := source.Pool(ctx, f.Source)
	if err != nil {
		return err
	}
	o := f.Chunking
	if t, ok := f.PerTable[table]; ok {
		o = t
	}
	t0 := time.Now()
	chunks, err := chunking.Plan(ctx, db, p, o)
	if err != nil {
		return fmt.Errorf("plan %s: %w", table, err)
	}
	beam.NewCounter(ns, CPlanMillis).Inc(ctx, time.Since(t0).Milliseconds())
	if client != nil {
		if err := checkpoint.Save(ctx, client, f.JobID, table, keyCols, chunks); err != nil {
			return fmt.Errorf("store plan of %s: %w", table, err)
		}
	}
	beam.NewCounter(ns, CChunksPlanned).Inc(ctx, int64(len(chunks)))
	log.Infof(ctx, "table %s: %d chunks planned in %v", table, len(chunks), time.Since(t0).Round(time.Millisecond))
	for _, c := range chunks {
		emit(c)
	}
	return nil
}

func keyColumnNames(p *schema.TablePlan) string {
	var names []string
	for _, c := range p.KeyColumns() {
		names = append(names, c.Source)
	}
	return strings.Join(names, ",")
}
