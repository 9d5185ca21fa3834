package copier

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/livemigrate/livemigrate/chunking"
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
type Reader struct {
	Q        *source.Querier
	Plan     *schema.TablePlan
	PageRows int
	// Between, when set, is called after every page but the last with the
	// stats so far, before the next page is asked; an error ends the read
	// with that error (the engine's progress heartbeat and stop check).
	Between func(ReadStats) error

	keyCols []chunking.KeyColumn
	selects string
}

// ReadStats counts what a chunk read did.
type ReadStats struct {
	Rows    int64
	Bytes   int64
	Pages   int
	Retries int // pages asked again after a transient failure
}

// NewReader returns a reader of p's rows in pages of pageRows.
func NewReader(q *source.Querier, p *schema.TablePlan, pageRows int) *Reader {
	r := &Reader{Q: q, Plan: p, PageRows: pageRows}
	r.init()
	return r
}

// Read calls fn for every row of chunk c in key order. raw holds driver
// values in Plan.Cols order; key is the row's key (normalised, safe to
// keep).
func (r *Reader) Read(ctx context.Context, c chunking.Chunk, fn func(raw []any, key chunking.Key) error) (ReadStats, error) {
	var st ReadStats
	r.init()
	var cursor chunking.Key
	n := len(r.Plan.Cols)
	page := make([][]any, 0, r.PageRows)
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
			dest := make([]any, n)
			for rows.Next() {
				raw := make([]any, n)
				for i := range dest {
					dest[i] = &raw[i]
				}
				if err := rows.Scan(dest...); err != nil {
					return len(page), err
				}
				page = append(page, raw)
			}
			return len(page), rows.Err()
		})
		if err != nil {
			return st, fmt.Errorf("read %s: %w", c, err)
		}
		st.Pages++
		for _, raw := range page {
			key := make(chunking.Key, len(r.Plan.Key))
			for i, k := range r.Plan.Key {
				key[i] = raw[k]
			}
			chunking.NormalizeKey(r.keyCols, key)
			st.Rows++
			st.Bytes += rowBytes(raw)
			if err := fn(raw, key); err != nil {
				return st, err
			}
			cursor = key
		}
		if len(page) < r.PageRows {
			return st, nil
		}
		if r.Between != nil {
			if err := r.Between(st); err != nil {
				return st, err
			}
		}
	}
}

func (r *Reader) init() {
	if r.PageRows <= 0 {
		r.PageRows = 2000
	}
	if r.keyCols == nil {
		r.keyCols = chunking.KeyColumns(r.Plan)
		r.selects = chunking.SelectList(r.Plan)
	}
}

// PageQuery renders the SQL of one page; exported for EXPLAIN tests.
func (r *Reader) PageQuery(c chunking.Chunk, cursor chunking.Key) (string, []any, error) {
	r.init()
	return chunking.PageQuery(r.Plan, r.keyCols, r.selects, c, cursor, r.PageRows)
}

func rowBytes(raw []any) int64 {
	var n int64
	for _, v := range raw {
		switch x := v.(type) {
		case []byte:
			n += int64(len(x))
		case nil:
			n++
		default:
			n += 8
		}
	}
	return n
}
