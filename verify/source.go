package verify

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"cloud.google.com/go/civil"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/ratelimit"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/target"
)

// This file asks the source about keys as Spanner stores them: which exist
// (exactly, not just under the collation), and their rows. See the package
// comment for why IN plus an exact comparison is the only right question.

// maxIn bounds the keys of one IN query (and so its placeholders).
const maxIn = 1024

// inSize pads n keys to a power of two, so one table needs at most a dozen
// prepared statements whatever the batch sizes (the padding repeats the
// last key, which IN ignores).
func inSize(n int) int {
	s := 1
	for s < n {
		s <<= 1
	}
	return s
}

// sourceParam returns the MySQL parameter that selects the row whose key
// column c converts to v, and false when no MySQL value converts to v (a
// row with that key cannot exist in the source). It only has to select
// candidates: the rows found are converted again and compared exactly.
func sourceParam(c *schema.ColumnPlan, v any, loc *time.Location) (any, bool) {
	if v == nil {
		return nil, false
	}
	switch c.Mapping.Kind {
	case schema.KindInt64, schema.KindYear, schema.KindBitInt64:
		x, ok := v.(int64)
		return x, ok
	case schema.KindBool, schema.KindBitBool:
		x, ok := v.(bool)
		if !ok {
			return nil, false
		}
		if x {
			return int64(1), true
		}
		return int64(0), true
	case schema.KindUint64Numeric:
		r := target.AsRat(v)
		if r == nil || !r.IsInt() || r.Sign() < 0 || !r.Num().IsUint64() {
			return nil, false
		}
		return r.Num().Uint64(), true
	case schema.KindUint64String:
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		u, err := strconv.ParseUint(s, 10, 64)
		return u, err == nil
	case schema.KindNumeric:
		r := target.AsRat(v)
		if r == nil {
			return nil, false
		}
		scale := c.Column.Scale
		scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
		if !scaled.IsInt() {
			return nil, false // more fraction digits than the column holds
		}
		return r.FloatString(scale), true
	case schema.KindDecimalString, schema.KindString, schema.KindTextString:
		s, ok := v.(string)
		return s, ok
	case schema.KindFloat32:
		x, ok := v.(float32)
		return float64(x), ok
	case schema.KindFloat64:
		x, ok := v.(float64)
		return x, ok
	case schema.KindBitBytes:
		b, ok := v.([]byte)
		if !ok || len(b) > 8 {
			return nil, false
		}
		var n uint64
		for _, x := range b {
			n = n<<8 | uint64(x)
		}
		return n, true
	case schema.KindBytes:
		b, ok := v.([]byte)
		return b, ok
	case schema.KindDate:
		d, ok := v.(civil.Date)
		return d.String(), ok
	case schema.KindDatetime, schema.KindTimestamp:
		t, ok := v.(time.Time)
		if !ok || t.Nanosecond()%1000 != 0 {
			return nil, false // MySQL keeps microseconds at most
		}
		if c.Mapping.Kind == schema.KindTimestamp {
			loc = time.UTC
		}
		return t.In(loc).Format("2006-01-02 15:04:05.000000"), true
	}
	return nil, false
}

// rawKey turns a key as the driver returns it (or as a chunk bound holds
// it) into the raw values Mapping.Convert takes.
func rawKey(v any) any {
	if u, ok := v.(uint64); ok {
		return []byte(strconv.FormatUint(u, 10))
	}
	return v
}

// storedKey converts a source key (driver values, key column order) into
// the key as Spanner stores it: mapping, then PII protection. ok is false
// when a value does not convert (the backfill dead-letters such a row).
func (v *Verifier) storedKey(t *table, raw []any) ([]any, bool, error) {
	key := make([]any, len(raw))
	for i := range raw {
		c := &t.p.Cols[t.p.Key[i]]
		out, bad := c.Mapping.Convert(rawKey(raw[i]), v.loc)
		if bad != nil {
			if c.NullOnInvalid {
				out = nil
			} else {
				return nil, false, nil
			}
		}
		key[i] = out
	}
	if v.Prot != nil && v.Prot.KeyProtected(t.p.Target) {
		if err := v.Prot.ProtectKey(t.p.Target, key); err != nil {
			return nil, false, err
		}
	}
	return key, true, nil
}

// params returns the IN arguments of stored keys (each revealed first when
// the key is protected), leaving out keys no source row can have.
func (v *Verifier) params(t *table, keys [][]any) ([][]any, error) {
	out := make([][]any, 0, len(keys))
	protected := v.Prot != nil && v.Prot.KeyProtected(t.p.Target)
next:
	for _, k := range keys {
		plain := k
		if protected {
			plain = append([]any(nil), k...)
			if err := v.Prot.RevealKey(t.p.Target, plain); err != nil {
				return nil, err
			}
		}
		args := make([]any, len(plain))
		for i, x := range plain {
			a, ok := sourceParam(&t.p.Cols[t.p.Key[i]], x, v.loc)
			if !ok {
				continue next
			}
			args[i] = a
		}
		out = append(out, args)
	}
	return out, nil
}

// queryIn runs one IN query per slice of at most maxIn keys and hands
// every returned row (driver values, ncol columns) to fn.
func (v *Verifier) queryIn(ctx context.Context, t *table, selectList string, ncol int, args [][]any, fn func(raw []any) error) error {
	per := maxIn
	if lim := 60000 / max(1, len(t.keyCols)); per > lim {
		per = lim
	}
	for len(args) > 0 {
		n := min(len(args), per)
		part := args[:n]
		args = args[n:]
		size := inSize(n)
		flat := make([]any, 0, size*len(t.keyCols))
		for i := 0; i < size; i++ {
			flat = append(flat, part[min(i, n-1)]...)
		}
		q := chunking.InQuery(t.p, t.keyCols, selectList, size)
		var rows [][]any
		err := v.eng.Q.Query(ctx, ratelimit.Verify, n, q, flat, func(r *sql.Rows) (int, error) {
			rows = rows[:0]
			for r.Next() {
				raw := make([]any, ncol)
				dest := make([]any, ncol)
				for i := range dest {
					dest[i] = &raw[i]
				}
				if err := r.Scan(dest...); err != nil {
					return len(rows), err
				}
				rows = append(rows, raw)
			}
			return len(rows), r.Err()
		})
		if err != nil {
			return fmt.Errorf("look up %d keys of %s in the source: %w", n, t.p.Source, err)
		}
		for _, raw := range rows {
			if err := fn(raw); err != nil {
				return err
			}
		}
	}
	return nil
}

// sourceHas returns the encodings of those stored keys the source holds
// exactly (not merely under its collation).
func (v *Verifier) sourceHas(ctx context.Context, t *table, keys [][]any) (map[string]bool, error) {
	args, err := v.params(t, keys)
	if err != nil {
		return nil, err
	}
	found := map[string]bool{}
	err = v.queryIn(ctx, t, chunking.KeyList(t.keyCols), len(t.keyCols), args, func(raw []any) error {
		k, ok, err := v.storedKey(t, raw)
		if err != nil || !ok {
			return err
		}
		found[enc(k)] = true
		return nil
	})
	return found, err
}

// sourceRows reads the source's current rows of stored keys, converted and
// protected as the backfill would write them, by key encoding. Keys whose
// row the backfill would dead-letter are in dead.
func (v *Verifier) sourceRows(ctx context.Context, t *table, keys [][]any) (rows map[string][]any, dead map[string]bool, err error) {
	args, err := v.params(t, keys)
	if err != nil {
		return nil, nil, err
	}
	rows, dead = map[string][]any{}, map[string]bool{}
	err = v.queryIn(ctx, t, t.selects, len(t.p.Cols), args, func(raw []any) error {
		rk := make([]any, len(t.p.Key))
		for i, j := range t.p.Key {
			rk[i] = raw[j]
		}
		chunking.NormalizeKey(t.keyCols, rk)
		k, ok, err := v.storedKey(t, rk)
		if err != nil || !ok {
			return err
		}
		vals, _, _, _, bad := t.conv.Convert(raw)
		if bad != nil {
			dead[enc(k)] = true
			return nil
		}
		if err := v.eng.Protect.Protect(t.p.Target, vals); err != nil {
			return err
		}
		rows[enc(k)] = vals
		return nil
	})
	return rows, dead, err
}

// collationTwin reports whether the source holds a key equal to stored
// under the key columns' collations but with other bytes (not the exact
// key: that one, if present, is no extra at all).
func (v *Verifier) collationTwin(ctx context.Context, t *table, stored []any) (bool, error) {
	args, err := v.params(t, [][]any{stored})
	if err != nil || len(args) == 0 {
		return false, err
	}
	want := enc(stored)
	twin := false
	err = v.queryIn(ctx, t, chunking.KeyList(t.keyCols), len(t.keyCols), args, func(raw []any) error {
		chunking.NormalizeKey(t.keyCols, raw)
		k, ok, err := v.storedKey(t, raw)
		if err != nil {
			return err
		}
		twin = twin || (ok && enc(k) != want)
		return nil
	})
	return twin, err
}
