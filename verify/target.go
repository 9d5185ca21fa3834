package verify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"

	"github.com/livemigrate/livemigrate/livewrite"
	"github.com/livemigrate/livemigrate/schema"
)

// reader is what the target lookups read through: a single-use read or
// one snapshot shared by several reads.
type reader interface {
	Read(ctx context.Context, table string, keys spanner.KeySet, columns []string) *spanner.RowIterator
}

func keySet(keys [][]any) spanner.KeySet {
	ks := make([]spanner.Key, len(keys))
	for i, k := range keys {
		ks[i] = spannerKey(k)
	}
	return spanner.KeySetFromKeys(ks...)
}

// targetRows reads the stored rows of keys (full rows, decoded into the
// converter's types), by key encoding.
func (v *Verifier) targetRows(ctx context.Context, r reader, t *table, keys [][]any) (map[string][]any, error) {
	out := make(map[string][]any, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	err := r.Read(ctx, t.p.Target, keySet(keys), t.cols).Do(func(row *spanner.Row) error {
		vals, err := schema.DecodeRow(row, t.p)
		if err != nil {
			return err
		}
		out[enc(keyOf(t, vals))] = vals
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %d keys of %s from Spanner: %w", len(keys), t.p.Target, err)
	}
	return out, nil
}

// marks reads the live path's shadow rows of keys: the commit time of the
// last live write (or tombstone) of each marked key.
func (v *Verifier) marks(ctx context.Context, r reader, t *table, keys [][]any) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(keys) == 0 {
		return out, nil
	}
	cols := append(append([]string{}, t.keyNames...), livewrite.ColCommitTs)
	err := r.Read(ctx, t.shadow, keySet(keys), cols).Do(func(row *spanner.Row) error {
		k, err := schema.DecodeKey(row, t.p)
		if err != nil {
			return err
		}
		var ts spanner.NullTime
		if err := row.Column(len(t.keyNames), &ts); err != nil {
			return err
		}
		out[enc(k)] = ts.Time
		return nil
	})
	if err != nil {
		return nil, shadowErr(t, err)
	}
	return out, nil
}

func shadowErr(t *table, err error) error {
	if spanner.ErrCode(err) == codes.NotFound && strings.Contains(spanner.ErrDesc(err), t.shadow) {
		return fmt.Errorf("shadow table %s is missing: run `livemigrate plan --apply` (it creates the tables the backfill, the live path and verify share)", t.shadow)
	}
	return fmt.Errorf("read shadow rows of %s: %w", t.p.Target, err)
}

// keyOf returns the key values of a row in plan column order.
func keyOf(t *table, row []any) []any {
	k := make([]any, len(t.p.Key))
	for i, j := range t.p.Key {
		k[i] = row[j]
	}
	return k
}
