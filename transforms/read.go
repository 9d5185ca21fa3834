package transforms

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/ratelimit"
	"github.com/livemigrate/livemigrate/schema"
)

// Reader streams the rows of one chunk with keyset pagination: each page is
// "key > last seen key AND key <= chunk upper bound ORDER BY key LIMIT n", so
// no page re-reads rows, memory is bounded by one page, and a page that fails
// (a killed connection) is simply asked again from the same cursor.
type Reader struct {
	DB       *sql.DB
	Plan     *schema.TablePlan
	PageRows int
	Gate     ratelimit.Gate
	// Retries bounds how often one page is retried after a connection error.
	Retries int

	keyCols []chunking.KeyColumn
	selects string
	stmts   map[string]*sql.Stmt
}

// ReadStats counts what a chunk read did.
type ReadStats struct {
	Rows    int64
	Bytes   int64
	Pages   int
	Retries int
}

// Read calls fn for every row of chunk c in key order. raw holds driver
// values in Plan.Cols order and is reused between calls; key is the row's
// key (normalised, safe to keep).
func (r *Reader) Read(ctx context.Context, c chunking.Chunk, fn func(raw []any, key chunking.Key) error) (ReadStats, error) {
	var st ReadStats
	r.init()
	defer r.closeStmts()
	var cursor chunking.Key
	n := len(r.Plan.Cols)
	page := make([][]any, 0, r.PageRows)
	for {
		release, err := r.Gate.Acquire(ctx, ratelimit.Page, r.PageRows)
		if err != nil {
			return st, err
		}
		for attempt := 0; ; attempt++ {
			page, err = r.page(ctx, c, cursor, page[:0], n)
			if err == nil || !Retryable(err) || attempt >= r.Retries || ctx.Err() != nil {
				break
			}
			st.Retries++
			r.closeStmts()
			time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
		}
		release(len(page))
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
	}
}

func (r *Reader) init() {
	if r.PageRows <= 0 {
		r.PageRows = 2000
	}
	if r.Gate == nil {
		r.Gate = ratelimit.Unlimited{}
	}
	if r.keyCols == nil {
		r.keyCols = chunking.KeyColumns(r.Plan)
		sel := make([]string, len(r.Plan.Cols))
		for i, c := range r.Plan.Cols {
			sel[i] = c.Mapping.Select
		}
		r.selects = strings.Join(sel, ", ")
	}
	if r.stmts == nil {
		r.stmts = map[string]*sql.Stmt{}
	}
}

func (r *Reader) closeStmts() {
	for k, s := range r.stmts {
		s.Close()
		delete(r.stmts, k)
	}
}

// PageQuery renders the SQL of one page; exported for EXPLAIN tests.
func (r *Reader) PageQuery(c chunking.Chunk, cursor chunking.Key) (string, []any, error) {
	r.init()
	where, args, err := chunking.Where(r.keyCols, c, cursor)
	if err != nil {
		return "", nil, err
	}
	q := "SELECT " + r.selects + " FROM " + schema.QuoteIdent(r.Plan.Source)
	if where != "" {
		q += " WHERE " + where
	}
	q += fmt.Sprintf(" ORDER BY %s LIMIT %d", chunking.OrderBy(r.keyCols, false), r.PageRows)
	return q, args, nil
}

func (r *Reader) page(ctx context.Context, c chunking.Chunk, cursor chunking.Key, out [][]any, n int) ([][]any, error) {
	q, args, err := r.PageQuery(c, cursor)
	if err != nil {
		return out, err
	}
	stmt, ok := r.stmts[q]
	if !ok {
		if stmt, err = r.DB.PrepareContext(ctx, q); err != nil {
			return out, err
		}
		r.stmts[q] = stmt
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	dest := make([]any, n)
	for rows.Next() {
		raw := make([]any, n)
		for i := range dest {
			dest[i] = &raw[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return out, err
		}
		out = append(out, raw)
	}
	return out, rows.Err()
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

// Retryable reports source errors after which a page can be asked again:
// lost or killed connections, deadlocks and lock waits.
func Retryable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1053, 1205, 1213, 1317, 1927, 2006, 2013, 1158, 1159, 1160, 1161:
			return true
		}
	}
	s := err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "broken pipe") || strings.Contains(s, "bad connection")
}
