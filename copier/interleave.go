package copier

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/schema"
)

// Interleaved tables (INTERLEAVE IN PARENT) need their parent row in
// Spanner before a child row can be inserted. The pipeline copies them in
// levels (pipelines.Backfill): a level's tables are planned only after the
// previous level's copy is complete, so every parent row the source had
// when its chunk was read is already committed. A child row can still find
// its parent missing — the parent row was dead-lettered, or deleted at the
// source (and its children with it, by ON DELETE CASCADE) after the parent
// was copied — and Spanner would reject the whole batch. So the engine
// checks the parent keys of each group of a child table's rows with one
// read before handing them to the writer, and dead-letters (with its
// reason, counted) a row whose parent row is missing. A parent deleted in
// the instant between that check and the commit fails the commit; the
// chunk is then copied again (the writer never overwrites, so the rows
// already committed count as existing) and the check sees the deletion.

// ReasonParentMissing is the dead-letter reason of a child row whose
// interleave parent row is not in Spanner.
const ReasonParentMissing = "parent row missing in Spanner (interleaved table): the parent was deleted at the source or dead-lettered"

// parentCheckRows is how many rows share one parent-key read.
const parentCheckRows = 500

// parentRetries bounds how often a chunk is copied again after a parent
// row vanished between the check and the commit.
const parentRetries = 3

// ParentMissing reports Spanner's refusal of a child row whose parent row
// does not exist.
func ParentMissing(err error) bool {
	c := spanner.ErrCode(err)
	return (c == codes.NotFound || c == codes.FailedPrecondition) && strings.Contains(strings.ToLower(spanner.ErrDesc(err)), "parent")
}

// parentGuard holds a child table's rows in groups and lets through only
// those whose parent row exists.
type parentGuard struct {
	e       *Engine
	p       *schema.TablePlan
	c       chunking.Chunk
	st      *Stats
	dead    func(DeadLetter)
	next    func(Row) error
	pending []Row
}

func (g *parentGuard) add(r Row) error {
	g.pending = append(g.pending, r)
	if len(g.pending) >= parentCheckRows {
		return g.flush(context.Background())
	}
	return nil
}

// flush reads the pending rows' distinct parent keys in one strong read
// and passes on the rows whose parent is there.
func (g *parentGuard) flush(ctx context.Context) error {
	if len(g.pending) == 0 {
		return nil
	}
	p := g.p
	n := p.Interleave.ParentKeyLen
	parentCols := p.TargetKey()[:n]
	keys := make([]spanner.Key, len(g.pending))
	for i, row := range g.pending {
		k := make(spanner.Key, n)
		for j := 0; j < n; j++ {
			k[j] = row.Vals[p.Key[j]]
		}
		keys[i] = k
	}
	present := map[string]bool{}
	err := g.e.Client.Single().Read(ctx, p.Interleave.ParentTarget, spanner.KeySetFromKeys(keys...), parentCols).Do(func(row *spanner.Row) error {
		k := make(spanner.Key, n)
		for j := 0; j < n; j++ {
			v, err := schema.DecodeCell(row, j, p.Cols[p.Key[j]].Mapping.Stored())
			if err != nil {
				return err
			}
			k[j] = v
		}
		present[schema.KeyString(k)] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("read parent keys of %s in %s: %w", p.Target, p.Interleave.ParentTarget, err)
	}
	for i, row := range g.pending {
		if !present[schema.KeyString(keys[i])] {
			g.st.DeadLettered++
			if g.dead != nil {
				key, err := g.e.PrintableKey(p, row.Key)
				if err != nil {
					return err
				}
				g.dead(DeadLetter{Table: p.Source, Key: key, Reason: ReasonParentMissing, Chunk: g.c.ID})
			}
			continue
		}
		if err := g.next(row); err != nil {
			return err
		}
	}
	g.pending = g.pending[:0]
	return nil
}

// copyInterleaved copies a chunk of an interleaved child table, checking
// parents, and copies it again when a parent vanished during a commit.
func (e *Engine) copyInterleaved(ctx context.Context, t *config.Table, c chunking.Chunk, dls *[]DeadLetter, between func(ReadStats) error) (Stats, error) {
	p := &t.Plan
	for attempt := 0; ; attempt++ {
		*dls = (*dls)[:0]
		w := &Writer{Client: e.Client, Plan: p, Limits: e.Job.Batch, Revalidate: &Revalidator{Q: e.Q, Plan: p}}
		var st Stats
		g := &parentGuard{e: e, p: p, c: c, st: &st, dead: func(d DeadLetter) { *dls = append(*dls, d) },
			next: func(r Row) error { return e.scrub(p, w.Add(ctx, r)) }}
		var err error
		st.Read, err = e.read(ctx, t, c, &st, g.dead, between, g.add)
		if err == nil {
			err = g.flush(ctx)
		}
		if err == nil {
			err = e.scrub(p, w.Flush(ctx))
		}
		st.Write = w.Stats
		if err == nil || !ParentMissing(err) {
			return st, err
		}
		if attempt+1 >= parentRetries {
			// Spanner's message names the key: keep the value out of ours.
			return st, fmt.Errorf("chunk %s: a parent row in %s vanished during the commit %d times", c, p.Interleave.ParentTarget, parentRetries)
		}
		e.Log.Info("a parent row vanished during a commit; copying the chunk again", "chunk", c.String())
	}
}
