package verify

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/livewrite"
	"github.com/livemigrate/livemigrate/target"
)

// repair fixes persistent differences in place (package comment, Repair):
// per batch, a strong Spanner timestamp ts0, then the source's current rows,
// then one read-write transaction that yields to every key the live path
// wrote after ts0 and otherwise writes the source's full row or removes a
// row the source does not hold (leaving a tombstone). Each key is read
// again afterwards; only a key that now agrees counts as repaired.
func (v *Verifier) repair(ctx context.Context, t *table, fs []finding, res *Result) error {
	per := v.repairBatch(t)
	for start := 0; start < len(fs); start += per {
		part := fs[start:min(len(fs), start+per)]
		keys := make([][]any, len(part))
		for i, f := range part {
			keys[i] = f.key
		}
		// ts0 first: any live write the source read below misses commits in
		// MySQL after that read, hence in Spanner after ts0.
		ro := v.eng.Client.Single()
		_, err := v.marks(ctx, ro, t, keys)
		var ts0 time.Time
		if err == nil {
			ts0, err = ro.Timestamp()
		}
		if err != nil {
			return fmt.Errorf("repair %s: %w", t.p.Target, err)
		}
		src, dead, err := v.sourceRows(ctx, t, keys)
		if err != nil {
			return fmt.Errorf("repair %s: %w", t.p.Target, err)
		}
		outcome := make([]string, len(part))
		_, err = target.ReadWrite(ctx, v.eng.Client, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
			dst, err := v.targetRows(ctx, tx, t, keys)
			if err != nil {
				return err
			}
			marks, err := v.marks(ctx, tx, t, keys)
			if err != nil {
				return err
			}
			var muts []*spanner.Mutation
			for i, k := range keys {
				e := enc(k)
				outcome[i] = ""
				if ts, ok := marks[e]; ok && ts.After(ts0) {
					outcome[i] = Deferred // the live path wrote it since: its write stands
					continue
				}
				switch s, d := src[e], dst[e]; {
				case dead[e]:
					outcome[i] = Failed // the source row cannot be written (the backfill dead-letters it)
				case s != nil:
					muts = append(muts, spanner.InsertOrUpdate(t.p.Target, t.cols, s))
				case d != nil:
					muts = append(muts, spanner.Delete(t.p.Target, spannerKey(k)), livewrite.Mark(t.p.Target, t.keyNames, spannerKey(k), true))
				}
			}
			return tx.BufferWrite(muts)
		})
		if err != nil {
			return fmt.Errorf("repair %d keys of %s: %w", len(keys), t.p.Target, err)
		}
		// Read the written keys again from both sides.
		var again []finding
		idx := map[string]int{}
		for i, f := range part {
			if outcome[i] == "" {
				idx[enc(f.key)] = i
				again = append(again, f)
			}
		}
		err = v.probe(ctx, t, again, func(was, now finding, touched time.Time, dead bool) {
			i := idx[enc(was.key)]
			switch {
			case !dead && now.kind == "":
				outcome[i] = Repaired
			case touched.After(ts0):
				outcome[i] = Deferred
			default:
				outcome[i] = Failed
			}
		})
		if err != nil {
			return fmt.Errorf("repair %s: %w", t.p.Target, err)
		}
		for i := range part {
			part[i].repair = outcome[i]
			if outcome[i] == Repaired {
				res.Repaired++
			}
		}
	}
	return nil
}

// repairBatch is how many keys one repair transaction may write within
// the job's commit limits.
func (v *Verifier) repairBatch(t *table) int {
	b := v.eng.Job.Batch
	if b.Rows <= 0 {
		b.Rows = config.DefaultBatchRows
	}
	if b.Mutations <= 0 {
		b.Mutations = config.DefaultBatchMutations
	}
	perRow := len(t.cols)*(1+len(t.p.Table.Indexes)) + 2
	return max(1, min(b.Rows, b.Mutations/perRow, recheckBatch))
}
