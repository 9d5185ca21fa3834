package transforms

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"time"

	"cloud.google.com/go/spanner"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/ratelimit"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/source"
	"github.com/livemigrate/livemigrate/spec"
	"github.com/livemigrate/livemigrate/target"
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
	CReadRetries      = "read_retries"
)

// CopyChunkFn copies one chunk: read → convert → protect → write.
type CopyChunkFn struct {
	Source   spec.Source        `json:"source"`
	Database string             `json:"database"`
	Tables   []schema.TablePlan `json:"tables"`
	PageRows int                `json:"page_rows"`
	Batch    BatchLimits        `json:"batch"`
	// JobID, when set, records each copied chunk as done in the progress
	// table (package checkpoint) after its rows are committed.
	JobID string `json:"job_id,omitempty"`
	// DeadLetterDir is the local directory or gs:// prefix that receives
	// one JSON-lines file per chunk with dead letters.
	DeadLetterDir string `json:"dead_letter_dir,omitempty"`

	db     *sql.DB
	client *spanner.Client
	plans  map[string]*schema.TablePlan
	loc    *time.Location
}

// Setup opens the shared source pool and Spanner client of this process.
func (f *CopyChunkFn) Setup(ctx context.Context) error {
	var err error
	if f.db, err = source.Pool(ctx, f.Source); err != nil {
		return err
	}
	if f.client, err = target.Client(ctx, f.Database); err != nil {
		return err
	}
	f.plans = map[string]*schema.TablePlan{}
	for i := range f.Tables {
		f.plans[f.Tables[i].Source] = &f.Tables[i]
	}
	f.loc = f.Source.Location()
	return nil
}

// ProcessElement copies chunk c, stores its dead letters, marks it done and
// emits how many rows it dead-lettered. (The emitted count also gives this
// long-running stage an output: Prism busy-waits on a stage without one.)
func (f *CopyChunkFn) ProcessElement(ctx context.Context, c chunking.Chunk, emit func(int64)) error {
	p, ok := f.plans[c.Table]
	if !ok {
		return fmt.Errorf("chunk %s: table not in plan", c)
	}
	ns := CounterNamespace + p.Source
	started := time.Now()
	var dls []DeadLetter
	st, err := CopyChunk(ctx, CopyDeps{DB: f.db, Client: f.client, Loc: f.loc, PageRows: f.PageRows, Batch: f.Batch,
		Gate: ratelimit.Unlimited{}, Protect: pii.None{}}, p, c, func(d DeadLetter) { dls = append(dls, d) })
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
	if err != nil {
		return err
	}
	if err := WriteDeadLetters(ctx, f.DeadLetterDir, c, dls); err != nil {
		return err
	}
	if f.JobID != "" {
		if err := checkpoint.MarkDone(ctx, f.client, f.JobID, c, st.Read.Rows, st.Write.Written, started); err != nil {
			return err
		}
	}
	beam.NewCounter(ns, CChunksDone).Inc(ctx, 1)
	emit(st.DeadLettered)
	log.Debugf(ctx, "chunk %s: read %d, written %d, existing %d, dead-lettered %d", c, st.Read.Rows, st.Write.Written, st.Write.SkippedExisted, st.DeadLettered)
	return nil
}

// CopyDeps are the live resources a chunk copy uses.
type CopyDeps struct {
	DB       *sql.DB
	Client   *spanner.Client
	Loc      *time.Location
	PageRows int
	Batch    BatchLimits
	Gate     ratelimit.Gate
	Protect  pii.Protector
}

// CopyStats is what one chunk copy did.
type CopyStats struct {
	Read         ReadStats
	Write        WriteStats
	DeadLettered int64
	CellsNulled  int64
}

// CopyChunk is the data path for one chunk, outside Beam so tests and
// benchmarks can call it directly.
func CopyChunk(ctx context.Context, d CopyDeps, p *schema.TablePlan, c chunking.Chunk, deadLetter func(DeadLetter)) (CopyStats, error) {
	var st CopyStats
	r := &Reader{DB: d.DB, Plan: p, PageRows: d.PageRows, Gate: d.Gate, Retries: 10}
	w := &Writer{Client: d.Client, Plan: p, Limits: d.Batch, Revalidate: &Revalidator{DB: d.DB, Plan: p, Retries: 10}}
	conv := &Converter{Plan: p, Loc: d.Loc}
	var err error
	st.Read, err = r.Read(ctx, c, func(raw []any, key chunking.Key) error {
		vals, size, nulled, badCol, bv := conv.Convert(raw)
		st.CellsNulled += int64(nulled)
		if bv != nil {
			st.DeadLettered++
			deadLetter(DeadLetter{Table: p.Source, Key: chunking.FormatKey(key), Column: badCol, Reason: bv.Reason, Chunk: c.ID})
			return nil
		}
		if err := d.Protect.Protect(p.Target, vals); err != nil {
			return err
		}
		return w.Add(ctx, Row{Vals: vals, Bytes: size, Key: key})
	})
	if err == nil {
		err = w.Flush(ctx)
	}
	st.Write = w.Stats
	return st, err
}
