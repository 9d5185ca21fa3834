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
	"google.golang.org/grpc/codes"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/ratelimit"
	"github.com/livemigrate/livemigrate/schema"
)

// Interleaved tables (INTERLEAVE IN PARENT) need their parent row in
// Spanner before a child row can be inserted. The pipeline copies them in
// levels (pipelines.Backfill): a level's tables are planned only after the
// previous level's copy is complete (AfterFn's side input), so every parent
// row the source had when its chunk was read is already committed. A child
// row can still find its parent missing — the parent row was dead-lettered,
// or deleted at the source (and its children with it, by ON DELETE CASCADE)
// after the parent was copied — and Spanner would reject the whole batch.
// So CopyInterleavedFn checks the parent keys of each group of rows with
// one read before handing the rows to the writer, and dead-letters (with
// its reason, counted) a row whose parent row is missing. A parent deleted
// in the instant between that check and the commit fails the commit; the
// chunk is then copied again (the writer never overwrites, so the rows
// already committed count as existing) and the check sees the deletion.

func init() {
	register.DoFn3x0[string, func(*int64) bool, func(string)](&AfterFn{})
	register.Iter1[int64]()
	register.Emitter1[string]()
	register.DoFn3x1[context.Context, chunking.Chunk, func(int64), error](&CopyInterleavedFn{})
}

// AfterFn passes table names through once its side input (the previous
// level's copy output) is complete: a barrier between levels.
type AfterFn struct{}

// ProcessElement emits the table name.
func (f *AfterFn) ProcessElement(table string, _ func(*int64) bool, emit func(string)) { emit(table) }

// ReasonParentMissing is the dead-letter reason of a child row whose
// interleave parent row is not in Spanner.
const ReasonParentMissing = "parent row missing in Spanner (interleaved table): the parent was deleted at the source or dead-lettered"

// parentCheckRows is how many rows share one parent-key read.
const parentCheckRows = 500

// parentRetries bounds how often a chunk is copied again after a parent
// row vanished between the check and the commit.
const parentRetries = 3

// CopyInterleavedFn copies chunks of interleaved tables: like CopyChunkFn,
// but a row whose parent row is missing in Spanner is dead-lettered
// instead of failing its batch. Chunks of other tables are copied by
// CopyChunkFn itself.
type CopyInterleavedFn struct {
	Copy CopyChunkFn `json:"copy"`
}

// Setup opens the shared source pool and Spanner client of this process.
func (f *CopyInterleavedFn) Setup(ctx context.Context) error { return f.Copy.Setup(ctx) }

// ProcessElement copies chunk c as CopyChunkFn does, checking parents.
func (f *CopyInterleavedFn) ProcessElement(ctx context.Context, c chunking.Chunk, emit func(int64)) error {
	p, ok := f.Copy.plans[c.Table]
	if !ok {
		return fmt.Errorf("chunk %s: table not in plan", c)
	}
	if p.Interleave == nil {
		return f.Copy.ProcessElement(ctx, c, emit)
	}
	ns := CounterNamespace + p.Source
	started := time.Now()
	deps := CopyDeps{DB: f.Copy.db, Client: f.Copy.client, Loc: f.Copy.loc, PageRows: f.Copy.PageRows, Batch: f.Copy.Batch,
		Gate: ratelimit.Unlimited{}, Protect: pii.None{}}
	var dls []DeadLetter
	var st CopyStats
	var err error
	for attempt := 0; ; attempt++ {
		dls = dls[:0]
		st, err = CopyInterleavedChunk(ctx, deps, p, c, func(d DeadLetter) { dls = append(dls, d) })
		if err == nil || !ParentMissing(err) {
			break
		}
		if attempt+1 >= parentRetries {
			// The Spanner error names the key: keep the value out of the message.
			err = fmt.Errorf("chunk %s: a parent row in %s vanished during the commit %d times", c, p.Interleave.ParentTarget, parentRetries)
			break
		}
		log.Infof(ctx, "chunk %s: a parent row vanished during a commit; copying the chunk again", c)
	}
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
	if err := WriteDeadLetters(ctx, f.Copy.DeadLetterDir, c, dls); err != nil {
		return err
	}
	if f.Copy.JobID != "" {
		if err := checkpoint.MarkDone(ctx, f.Copy.client, f.Copy.JobID, c, st.Read.Rows, st.Write.Written, started); err != nil {
			return err
		}
	}
	beam.NewCounter(ns, CChunksDone).Inc(ctx, 1)
	emit(st.DeadLettered)
	return nil
}

// ParentMissing reports Spanner's refusal of a child row whose parent row
// does not exist.
func ParentMissing(err error) bool {
	c := spanner.ErrCode(err)
	return (c == codes.NotFound || c == codes.FailedPrecondition) && strings.Contains(strings.ToLower(spanner.ErrDesc(err)), "parent")
}

// CopyInterleavedChunk is CopyChunk for an interleaved table: converted
// rows are held in groups, the group's distinct parent keys are read from
// the parent table in one strong read, and a row whose parent row is
// missing is dead-lettered (ReasonParentMissing) instead of written.
func CopyInterleavedChunk(ctx context.Context, d CopyDeps, p *schema.TablePlan, c chunking.Chunk, deadLetter func(DeadLetter)) (CopyStats, error) {
	var st CopyStats
	r := &Reader{DB: d.DB, Plan: p, PageRows: d.PageRows, Gate: d.Gate, Retries: 10}
	w := &Writer{Client: d.Client, Plan: p, Limits: d.Batch, Revalidate: &Revalidator{DB: d.DB, Plan: p, Retries: 10}}
	conv := &Converter{Plan: p, Loc: d.Loc}
	n := p.Interleave.ParentKeyLen
	parentCols := p.TargetKey()[:n]
	var pending []Row
	check := func() error {
		if len(pending) == 0 {
			return nil
		}
		keys := make([]spanner.Key, len(pending))
		for i, row := range pending {
			keys[i] = parentKey(p, row.Vals, n)
		}
		present := map[string]bool{}
		err := d.Client.Single().Read(ctx, p.Interleave.ParentTarget, spanner.KeySetFromKeys(keys...), parentCols).Do(func(row *spanner.Row) error {
			k := make(spanner.Key, n)
			for j := 0; j < n; j++ {
				v, err := decodeCell(row, j, p.Cols[p.Key[j]].Mapping.Kind)
				if err != nil {
					return err
				}
				k[j] = v
			}
			present[KeyString(k)] = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("read parent keys of %s in %s: %w", p.Target, p.Interleave.ParentTarget, err)
		}
		for i, row := range pending {
			if !present[KeyString(keys[i])] {
				st.DeadLettered++
				deadLetter(DeadLetter{Table: p.Source, Key: chunking.FormatKey(row.Key), Column: "", Reason: ReasonParentMissing, Chunk: c.ID})
				continue
			}
			if err := w.Add(ctx, row); err != nil {
				return err
			}
		}
		pending = pending[:0]
		return nil
	}
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
		pending = append(pending, Row{Vals: vals, Bytes: size, Key: key})
		if len(pending) >= parentCheckRows {
			return check()
		}
		return nil
	})
	if err == nil {
		err = check()
	}
	if err == nil {
		err = w.Flush(ctx)
	}
	st.Write = w.Stats
	return st, err
}

func parentKey(p *schema.TablePlan, vals []any, n int) spanner.Key {
	k := make(spanner.Key, n)
	for j := 0; j < n; j++ {
		k[j] = vals[p.Key[j]]
	}
	return k
}
