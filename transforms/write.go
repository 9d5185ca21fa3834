package transforms

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"

	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/target"
)

// BatchLimits bound one commit. Spanner allows 80,000 mutations and 100 MB
// per commit; the defaults stay well inside both so that one commit stays
// short (short read-write transactions conflict less with the live path).
type BatchLimits struct {
	Rows      int   `json:"rows"`
	Mutations int   `json:"mutations"`
	Bytes     int64 `json:"bytes"`
}

// Spanner's hard commit limits.
const (
	SpannerMaxMutations = 80000
	SpannerMaxBytes     = 100 << 20
)

// DefaultBatch is used for zero fields of BatchLimits.
var DefaultBatch = BatchLimits{Rows: 1000, Mutations: 40000, Bytes: 16 << 20}

func (b BatchLimits) withDefaults() BatchLimits {
	if b.Rows <= 0 {
		b.Rows = DefaultBatch.Rows
	}
	if b.Mutations <= 0 || b.Mutations > SpannerMaxMutations {
		b.Mutations = DefaultBatch.Mutations
	}
	if b.Bytes <= 0 || b.Bytes > SpannerMaxBytes/2 {
		b.Bytes = DefaultBatch.Bytes
	}
	return b
}

// Row is a converted row ready for Spanner: Vals in plan column order.
type Row struct {
	Vals  []any
	Bytes int64
}

// WriteStats counts what the writer did.
type WriteStats struct {
	Written        int64 // rows inserted
	SkippedExisted int64 // key already present in Spanner (a live write or an earlier run)
	Commits        int64
}

// Writer batches rows of one table into read-write transactions that insert
// only keys Spanner does not hold yet (insert-if-absent). A key that is
// present was written by the live path or by an earlier run of this chunk;
// either way the backfill's copy is not newer, so it is left alone. This
// makes a re-run of a chunk change nothing.
type Writer struct {
	Client *spanner.Client
	Plan   *schema.TablePlan
	Limits BatchLimits

	cols      []string
	keyCols   []string
	mutPerRow int
	buf       []Row
	bytes     int64
	Stats     WriteStats
}

// Add buffers a row and commits when a limit is reached.
func (w *Writer) Add(ctx context.Context, r Row) error {
	if w.cols == nil {
		w.Limits = w.Limits.withDefaults()
		w.cols = w.Plan.TargetColumns()
		w.keyCols = w.Plan.TargetKey()
		// Every column of every index of the row is a mutation.
		w.mutPerRow = len(w.cols) * (1 + len(w.Plan.Table.Indexes))
	}
	if len(w.buf) > 0 && (len(w.buf)+1 > w.Limits.Rows ||
		(len(w.buf)+1)*w.mutPerRow > w.Limits.Mutations ||
		w.bytes+r.Bytes > w.Limits.Bytes) {
		if err := w.Flush(ctx); err != nil {
			return err
		}
	}
	w.buf = append(w.buf, r)
	w.bytes += r.Bytes
	return nil
}

// Flush commits the buffered rows.
func (w *Writer) Flush(ctx context.Context) error {
	if len(w.buf) == 0 {
		return nil
	}
	keys := make([]spanner.Key, len(w.buf))
	keyStr := make([]string, len(w.buf))
	for i, r := range w.buf {
		k := make(spanner.Key, len(w.Plan.Key))
		for j, ki := range w.Plan.Key {
			k[j] = r.Vals[ki]
		}
		keys[i] = k
		keyStr[i] = KeyString(k)
	}
	var inserted, existed int64
	_, err := target.ReadWrite(ctx, w.Client, func(ctx context.Context, txn *spanner.ReadWriteTransaction) error {
		inserted, existed = 0, 0
		present := map[string]bool{}
		it := txn.Read(ctx, w.Plan.Target, spanner.KeySetFromKeys(keys...), w.keyCols)
		err := it.Do(func(row *spanner.Row) error {
			k, err := decodeKey(row, w.Plan)
			if err != nil {
				return err
			}
			present[KeyString(k)] = true
			return nil
		})
		if err != nil {
			return err
		}
		muts := make([]*spanner.Mutation, 0, len(w.buf))
		for i, r := range w.buf {
			if present[keyStr[i]] {
				existed++
				continue
			}
			present[keyStr[i]] = true // a duplicate key inside one batch cannot happen, but never insert twice
			muts = append(muts, spanner.Insert(w.Plan.Target, w.cols, r.Vals))
			inserted++
		}
		return txn.BufferWrite(muts)
	})
	if err != nil {
		return fmt.Errorf("write %d rows to %s: %w", len(w.buf), w.Plan.Target, err)
	}
	w.Stats.Written += inserted
	w.Stats.SkippedExisted += existed
	w.Stats.Commits++
	w.buf = w.buf[:0]
	w.bytes = 0
	return nil
}

// decodeKey reads the key columns of a Spanner row into the Go types the
// converter produces for them, so KeyString matches across both sides.
func decodeKey(row *spanner.Row, p *schema.TablePlan) (spanner.Key, error) {
	k := make(spanner.Key, len(p.Key))
	for j, ki := range p.Key {
		v, err := decodeCell(row, j, p.Cols[ki].Mapping.Kind)
		if err != nil {
			return nil, err
		}
		k[j] = v
	}
	return k, nil
}

func decodeCell(row *spanner.Row, i int, kind schema.Kind) (any, error) {
	switch kind {
	case schema.KindInt64, schema.KindYear, schema.KindBitInt64:
		var v spanner.NullInt64
		err := row.Column(i, &v)
		return nullOr(v.Valid, v.Int64), err
	case schema.KindBool, schema.KindBitBool:
		var v spanner.NullBool
		err := row.Column(i, &v)
		return nullOr(v.Valid, v.Bool), err
	case schema.KindUint64Numeric, schema.KindNumeric:
		var v spanner.NullNumeric
		err := row.Column(i, &v)
		if !v.Valid {
			return nil, err
		}
		r := v.Numeric
		return &r, err
	case schema.KindFloat32:
		var v spanner.NullFloat32
		err := row.Column(i, &v)
		return nullOr(v.Valid, v.Float32), err
	case schema.KindFloat64:
		var v spanner.NullFloat64
		err := row.Column(i, &v)
		return nullOr(v.Valid, v.Float64), err
	case schema.KindBytes, schema.KindBitBytes:
		var v []byte
		err := row.Column(i, &v)
		if v == nil {
			return nil, err
		}
		return v, err
	case schema.KindDate:
		var v spanner.NullDate
		err := row.Column(i, &v)
		return nullOr(v.Valid, v.Date), err
	case schema.KindDatetime, schema.KindTimestamp:
		var v spanner.NullTime
		err := row.Column(i, &v)
		return nullOr(v.Valid, v.Time), err
	case schema.KindSetArray:
		var v []string
		err := row.Column(i, &v)
		return v, err
	case schema.KindJSON:
		var v spanner.NullJSON
		err := row.Column(i, &v)
		return v, err
	default:
		var v spanner.NullString
		err := row.Column(i, &v)
		return nullOr(v.Valid, v.StringVal), err
	}
}

func nullOr[T any](valid bool, v T) any {
	if !valid {
		return nil
	}
	return v
}

// KeyString renders a key of converted values canonically, so a key read
// back from Spanner and the same key from MySQL compare equal.
func KeyString(k spanner.Key) string {
	var b strings.Builder
	for i, v := range k {
		if i > 0 {
			b.WriteByte('|')
		}
		switch x := v.(type) {
		case nil:
			b.WriteString("N")
		case int64:
			b.WriteString("i" + strconv.FormatInt(x, 10))
		case bool:
			b.WriteString("B" + strconv.FormatBool(x))
		case string:
			b.WriteString("s" + strconv.Quote(x))
		case []byte:
			b.WriteString("x" + hex.EncodeToString(x))
		case *big.Rat:
			b.WriteString("n" + x.RatString())
		case big.Rat:
			b.WriteString("n" + x.RatString())
		case float32:
			b.WriteString("f" + strconv.FormatFloat(float64(x), 'g', -1, 32))
		case float64:
			b.WriteString("f" + strconv.FormatFloat(x, 'g', -1, 64))
		case civil.Date:
			b.WriteString("d" + x.String())
		case time.Time:
			b.WriteString("t" + x.UTC().Format(time.RFC3339Nano))
		default:
			b.WriteString(fmt.Sprintf("?%v", x))
		}
	}
	return b.String()
}
