package chunking

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/livemigrate/livemigrate/ratelimit"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/source"
)

// Defaults of Options; see the package comment for why.
const (
	DefaultTargetRows = 50_000
	DefaultMaxBytes   = 64 << 20
	// MinRows is the smallest chunk the byte cap can force: below it the
	// per-chunk overhead (a plan query, a progress write) dominates.
	MinRows = 100
)

// Options size the chunks of a plan. Zero values mean the defaults.
type Options struct {
	// TargetRows is the number of rows a chunk aims at.
	TargetRows int `json:"target_rows"`
	// MaxBytes caps a chunk's estimated size (rows × AVG_ROW_LENGTH).
	MaxBytes int64 `json:"max_bytes"`
}

// RowsPerChunk is the chunk size for a table whose rows average
// avgRowLength bytes: TargetRows, lowered so a chunk stays under MaxBytes,
// never below MinRows.
func (o Options) RowsPerChunk(avgRowLength int64) int {
	n := o.TargetRows
	if n <= 0 {
		n = DefaultTargetRows
	}
	maxBytes := o.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if avgRowLength > 0 && int64(n)*avgRowLength > maxBytes {
		n = int(maxBytes / avgRowLength)
	}
	if n < MinRows && (o.TargetRows <= 0 || o.TargetRows >= MinRows) {
		n = MinRows
	}
	if n < 1 {
		n = 1
	}
	return n
}

// Plan splits a table into chunks that together cover every key exactly
// once, by walking the chunk key's index: each boundary is the key n rows
// after the previous one,
//
//	SELECT key FROM t FORCE INDEX (ix) WHERE key > last ORDER BY key LIMIT 1 OFFSET n-1
//
// so every chunk but the last holds exactly n rows at planning time,
// whatever the key's distribution. The last chunk is counted with a bounded
// query and merged into its neighbour when small. The first chunk has no
// lower bound and the last no upper bound, so rows inserted outside the
// planned range later are still copied. An empty or small table is one
// unbounded chunk.
//
// Every query goes through q, so planning passes the source throttle and
// rides out transient errors like any other read.
func Plan(ctx context.Context, q *source.Querier, p *schema.TablePlan, o Options) ([]Chunk, error) {
	if err := ValidateKey(p); err != nil {
		return nil, err
	}
	n := o.RowsPerChunk(p.Table.AvgRowLength)
	w := walker{q: q, p: p, cols: KeyColumns(p), index: KeyIndex(p)}
	var bounds []Key
	var last Key
	for {
		k, err := w.boundary(ctx, last, n)
		if err != nil {
			return nil, err
		}
		if k == nil {
			break
		}
		if last != nil && bytes.Equal(EncodeKey(k), EncodeKey(last)) {
			return nil, StuckKeyError(p.Source)
		}
		bounds = append(bounds, k)
		last = k
	}
	tail, err := w.tail(ctx, last, n)
	if err != nil {
		return nil, err
	}
	rows := make([]int64, len(bounds)+1)
	for i := range bounds {
		rows[i] = int64(n)
	}
	rows[len(bounds)] = tail
	// A small tail joins the previous chunk (at most 1.25 n rows).
	if len(bounds) > 0 && tail < int64(n)/4 {
		rows[len(bounds)-1] += tail
		bounds = bounds[:len(bounds)-1]
		rows = rows[:len(bounds)+1]
	}
	chunks := make([]Chunk, len(bounds)+1)
	var lower []byte
	for i := range chunks {
		c := Chunk{Table: p.Source, ID: i, Of: len(chunks), Lower: lower, Rows: rows[i]}
		if i < len(bounds) {
			c.Upper = EncodeKey(bounds[i])
		}
		chunks[i] = c
		lower = c.Upper
	}
	return chunks, nil
}

// StuckKeyError is the error of a keyset walk whose key stopped advancing:
// MySQL compared a key value bound as a parameter differently from how it
// orders the column. Failing is the only safe answer (the walk would loop,
// or skip rows); a key type this package does not yet bind right is the
// cause, and another unique key the way around it.
func StuckKeyError(table string) error {
	return fmt.Errorf("table %s: the chunk key stopped advancing (MySQL compares its bound values differently from how it orders them); name another unique key with key: in the spec, and report the key's column types", table)
}

// ValidateKey says whether a table's key can be chunked at all; the CLI
// calls it before building a pipeline so a bad key is bad input (exit 2).
func ValidateKey(p *schema.TablePlan) error {
	if len(p.Key) == 0 {
		return fmt.Errorf("table %s has no chunk key", p.Source)
	}
	for _, c := range p.KeyColumns() {
		if c.Column.DataType == "enum" || c.Column.DataType == "set" {
			return fmt.Errorf("table %s: key column %s is %s, which MySQL sorts by ordinal but compares as text, so it cannot be chunked; name another unique key with key: in the spec", p.Source, c.Source, strings.ToUpper(c.Column.DataType))
		}
	}
	return nil
}

// KeyIndex names the index that orders the chunk key: PRIMARY, or the
// unique index whose columns are the key.
func KeyIndex(p *schema.TablePlan) string {
	key := make([]string, len(p.Key))
	for i, c := range p.KeyColumns() {
		key[i] = c.Source
	}
	if schema.EqualFoldList(p.Table.PrimaryKey, key) {
		return "PRIMARY"
	}
	for _, ix := range p.Table.Indexes {
		if ix.Unique && schema.EqualFoldList(ix.Columns, key) {
			return ix.Name
		}
	}
	return ""
}

// walker runs the planning queries through the Querier's prepared
// statements, so key values always arrive in the binary protocol's types
// (the same the Reader sees) and every query holds at most one pooled
// connection at a time.
type walker struct {
	q     *source.Querier
	p     *schema.TablePlan
	cols  []KeyColumn
	index string
}

// BoundaryQuery renders the index-walk query; exported for EXPLAIN tests.
func BoundaryQuery(p *schema.TablePlan, after Key, n int) (string, []any) {
	w := walker{p: p, cols: KeyColumns(p), index: KeyIndex(p)}
	return w.boundaryQuery(after, n)
}

func (w *walker) boundaryQuery(after Key, n int) (string, []any) {
	return boundaryQuery(w.p.Source, w.index, w.cols, after, n)
}

// boundary returns the key n rows after `after` (nil: from the start), or
// nil when fewer than n rows follow.
func (w *walker) boundary(ctx context.Context, after Key, n int) (Key, error) {
	q, args := w.boundaryQuery(after, n)
	k := make(Key, len(w.cols))
	dest := make([]any, len(k))
	for i := range k {
		dest[i] = &k[i]
	}
	ok, err := w.q.QueryRow(ctx, ratelimit.Plan, q, args, dest...)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", w.p.Source, err)
	}
	if !ok {
		return nil, nil
	}
	return NormalizeKey(w.cols, k), nil
}

// tail counts the rows after `after`, reading at most n index entries.
func (w *walker) tail(ctx context.Context, after Key, n int) (int64, error) {
	q, args := tailQuery(w.p.Source, w.index, w.cols, after, n)
	var c int64
	if _, err := w.q.QueryRow(ctx, ratelimit.Plan, q, args, &c); err != nil {
		return 0, fmt.Errorf("plan %s: %w", w.p.Source, err)
	}
	return c, nil
}
