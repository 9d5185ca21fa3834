package copier

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/ratelimit"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/source"
)

// Reader streams the rows of one chunk with keyset pagination: each page is
// "key > last seen key AND key <= chunk upper bound ORDER BY key LIMIT n", so
// no page re-reads rows, memory is bounded by one page, and a page that fails
// (a killed connection) is simply asked again from the same cursor. Every
// page goes through the Querier: the gate first, then the query, retried
// when the failure is transient.
//
// Rows are converted while they stream in: each column is scanned into a
// holder chosen from its mapping (sql.RawBytes, reused from row to row, for
// everything the driver sends as bytes; the driver's own boxed value for
// numbers) and converted straight from it, so a cell is copied once — into
// the value Spanner takes, inside the reader's schema.Slab — and a page
// costs a few slab allocations for its rows, keys and text instead of
// several per cell. The page's rows are handed on
// only after the query is done, so no source connection is held while the
// writer talks to Spanner.
type Reader struct {
	Q        *source.Querier
	Plan     *schema.TablePlan
	PageRows int
	// Loc is the zone DATETIME values are read in (nil: UTC).
	Loc *time.Location
	// Between, when set, is called after every page but the last with the
	// stats so far, before the next page is asked; an error ends the read
	// with that error (the engine's progress heartbeat and stop check).
	Between func(ReadStats) error

	slab    *schema.Slab // the copies of cells rows keep
	keyCols []chunking.KeyColumn
	selects string
	asBytes []bool // per column: scanned into sql.RawBytes
}

// Row is one row of a chunk: its converted values (plan column order) and
// source key, or why it cannot be converted.
type Row struct {
	Vals []any
	// Bytes approximates the row's size (for the writer's batch limit).
	Bytes int64
	// Key is the row's source key as the driver returns it (normalised,
	// safe to keep): re-validation and cursors use it.
	Key chunking.Key
	// Nulled counts cells replaced by NULL under on_invalid: null.
	Nulled int
	// Bad is set when the row must be dead-lettered; BadColumn names the
	// first column that could not be converted.
	Bad       *schema.BadValue
	BadColumn string
}

// ReadStats counts what a chunk read did.
type ReadStats struct {
	Rows    int64
	Bytes   int64
	Pages   int
	Retries int // pages asked again after a transient failure
}

// NewReader returns a reader of p's rows in pages of pageRows, reading
// DATETIME values in loc.
func NewReader(q *source.Querier, p *schema.TablePlan, pageRows int, loc *time.Location) *Reader {
	r := &Reader{Q: q, Plan: p, PageRows: pageRows, Loc: loc}
	r.init()
	return r
}

// Read calls fn for every row of chunk c in key order. The *Row is reused
// after fn returns; its Vals and Key are not and may be kept.
func (r *Reader) Read(ctx context.Context, c chunking.Chunk, fn func(*Row) error) (ReadStats, error) {
	var st ReadStats
	r.init()
	var cursor chunking.Key
	n, nk := len(r.Plan.Cols), len(r.Plan.Key)
	page := make([]Row, 0, r.PageRows)
	holders := make([]any, n)
	raw := make([]sql.RawBytes, n)
	dest := make([]any, n)
	for i := range dest {
		if r.asBytes[i] {
			dest[i] = &raw[i]
		} else {
			dest[i] = &holders[i]
		}
	}
	for {
		// Between pages: an ended context (an interrupt) stops the read
		// before another page is asked.
		if err := ctx.Err(); err != nil {
			return st, err
		}
		q, args, err := r.PageQuery(c, cursor)
		if err != nil {
			return st, fmt.Errorf("read %s: %w", c, err)
		}
		err = r.Q.QueryCounting(ctx, ratelimit.Page, r.PageRows, q, args, &st.Retries, func(rows *sql.Rows) (int, error) {
			page = page[:0]
			vals := make([]any, r.PageRows*n)
			keys := make([]any, r.PageRows*nk)
			for rows.Next() {
				if len(page) == r.PageRows {
					return len(page), fmt.Errorf("page returned more than its LIMIT %d", r.PageRows)
				}
				if err := rows.Scan(dest...); err != nil {
					return len(page), err
				}
				k := len(page)
				page = append(page, Row{})
				r.convert(&page[k], vals[k*n:(k+1)*n:(k+1)*n], keys[k*nk:(k+1)*nk:(k+1)*nk], holders, raw)
			}
			return len(page), rows.Err()
		})
		if err != nil {
			return st, fmt.Errorf("read %s: %w", c, err)
		}
		st.Pages++
		prev := cursor
		for i := range page {
			st.Rows++
			st.Bytes += page[i].Bytes
			if err := fn(&page[i]); err != nil {
				return st, err
			}
			cursor = page[i].Key
		}
		if len(page) < r.PageRows {
			return st, nil
		}
		if prev != nil && bytes.Equal(chunking.EncodeKey(prev), chunking.EncodeKey(cursor)) {
			return st, chunking.StuckKeyError(c.Table)
		}
		if r.Between != nil {
			if err := r.Between(st); err != nil {
				return st, err
			}
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
	}
}

// convert fills row from the scanned holders: every column through its
// mapping, and the key from the driver's values.
func (r *Reader) convert(row *Row, vals, key []any, holders []any, raw []sql.RawBytes) {
	row.Vals, row.Key = vals, chunking.Key(key)
	for i := range r.Plan.Cols {
		col := &r.Plan.Cols[i]
		var out any
		var bv *schema.BadValue
		if r.asBytes[i] {
			b := []byte(raw[i])
			row.Bytes += int64(len(b)) + 1
			out, bv = col.Mapping.ConvertIn(b, r.Loc, r.slab)
		} else {
			row.Bytes += 8
			out, bv = col.Mapping.Convert(holders[i], r.Loc)
		}
		switch {
		case bv == nil:
			vals[i] = out
		case col.NullOnInvalid:
			row.Nulled++
		case row.Bad == nil:
			row.Bad, row.BadColumn = bv, col.Source
		}
	}
	for j, ki := range r.Plan.Key {
		if r.asBytes[ki] {
			if raw[ki] != nil {
				key[j] = r.slab.Bytes(raw[ki])
			}
		} else {
			key[j] = holders[ki]
		}
	}
	chunking.NormalizeKey(r.keyCols, row.Key)
}

func (r *Reader) init() {
	if r.PageRows <= 0 {
		r.PageRows = config.DefaultPageRows
	}
	if r.Loc == nil {
		r.Loc = time.UTC
	}
	if r.keyCols == nil {
		r.slab = &schema.Slab{}
		r.keyCols = chunking.KeyColumns(r.Plan)
		r.selects = chunking.SelectList(r.Plan)
		r.asBytes = make([]bool, len(r.Plan.Cols))
		for i, c := range r.Plan.Cols {
			r.asBytes[i] = scansAsBytes(c.Mapping.Kind)
		}
	}
}

// scansAsBytes says whether the driver sends a column of this kind as
// bytes over the binary protocol (text, SET as "bitmask,text", DECIMAL,
// temporal text, BLOB, BIT, JSON), so it can be scanned into a reused
// sql.RawBytes. Numbers arrive as
// int64/uint64/float and keep the driver's boxed value.
func scansAsBytes(k schema.Kind) bool {
	switch k {
	case schema.KindString, schema.KindSetArray, schema.KindNumeric, schema.KindDecimalString, schema.KindBitBool, schema.KindBitBytes,
		schema.KindBitInt64, schema.KindJSON, schema.KindBytes, schema.KindDate, schema.KindDatetime, schema.KindTimestamp:
		return true
	}
	return false
}

// PageQuery renders the SQL of one page; exported for EXPLAIN tests.
func (r *Reader) PageQuery(c chunking.Chunk, cursor chunking.Key) (string, []any, error) {
	r.init()
	return chunking.PageQuery(r.Plan, r.keyCols, r.selects, c, cursor, r.PageRows)
}
