package copier

import (
	"context"
	"database/sql"
	"fmt"

	"cloud.google.com/go/spanner"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/livewrite"
	"github.com/livemigrate/livemigrate/ratelimit"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/source"
	"github.com/livemigrate/livemigrate/target"
)

// Revalidator asks the source which of the keys a batch wrote still exist.
// It reads only key columns, with one range query over the batch's key span
// (a batch is a run of consecutive keys of one keyset read), which the key
// index answers. The query goes through the Querier (gate and retry).
type Revalidator struct {
	Q    *source.Querier
	Plan *schema.TablePlan

	keyCols []chunking.KeyColumn
}

// Existing returns the encoded keys (string(chunking.EncodeKey(k))) of keys
// that the source holds now. keys must be in ascending key order.
func (v *Revalidator) Existing(ctx context.Context, keys []chunking.Key) (map[string]bool, error) {
	out := map[string]bool{}
	if len(keys) == 0 {
		return out, nil
	}
	if v.keyCols == nil {
		v.keyCols = chunking.KeyColumns(v.Plan)
	}
	q, args := chunking.KeysBetweenQuery(v.Plan, v.keyCols, keys[0], keys[len(keys)-1])
	n := len(v.keyCols)
	err := v.Q.Query(ctx, ratelimit.Revalidate, len(keys), q, args, func(rows *sql.Rows) (int, error) {
		clear(out)
		raw := make([]any, n)
		dest := make([]any, n)
		for rows.Next() {
			for i := range dest {
				dest[i] = &raw[i]
			}
			if err := rows.Scan(dest...); err != nil {
				return len(out), err
			}
			k := chunking.NormalizeKey(v.keyCols, append(chunking.Key(nil), raw...))
			out[string(chunking.EncodeKey(k))] = true
		}
		return len(out), rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// revalidate checks the rows of buf at written against the source and
// removes from Spanner those whose key the source no longer has — but only
// where Spanner still holds the backfill's write: the key has no shadow row,
// i.e. the live path has neither written nor deleted it since. The removal
// leaves a tombstone, so a slower copy of the same stale row (a retried
// bundle) cannot bring it back either.
func (w *Writer) revalidate(ctx context.Context, written []int, keys []spanner.Key, keyStr []string) error {
	src := make([]chunking.Key, 0, len(written))
	idx := make([]int, 0, len(written))
	for _, i := range written {
		if w.buf[i].Key != nil {
			src = append(src, w.buf[i].Key)
			idx = append(idx, i)
		}
	}
	exists, err := w.Revalidate.Existing(ctx, src)
	if err != nil {
		return err
	}
	w.Stats.Revalidated += int64(len(src))
	var gone []int
	for j, i := range idx {
		if !exists[string(chunking.EncodeKey(src[j]))] {
			gone = append(gone, i)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	goneKeys := make([]spanner.Key, len(gone))
	for j, i := range gone {
		goneKeys[j] = keys[i]
	}
	var removed int64
	_, err = target.ReadWrite(ctx, w.Client, func(ctx context.Context, txn *spanner.ReadWriteTransaction) error {
		removed = 0
		ks := spanner.KeySetFromKeys(goneKeys...)
		stored, err := w.readData(ctx, txn, ks, false)
		if err != nil {
			return err
		}
		shadow, err := w.readShadow(ctx, txn, ks)
		if err != nil {
			return err
		}
		var muts []*spanner.Mutation
		for j, i := range gone {
			_, present := stored[keyStr[i]]
			_, marked := shadow[keyStr[i]]
			if !present || marked {
				continue // the live path owns this key now: its write stands
			}
			muts = append(muts, spanner.Delete(w.Plan.Target, goneKeys[j]),
				livewrite.Mark(w.Plan.Target, w.keyCols, goneKeys[j], true))
			removed++
		}
		return txn.BufferWrite(muts)
	})
	if err != nil {
		return fmt.Errorf("remove rows deleted at the source: %w", err)
	}
	w.Stats.Removed += removed
	return nil
}
