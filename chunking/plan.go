package chunking

import (
	"bytes"
	"context"
	"fmt"
	"math"
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
// A one-column integer key that fills its range is split by arithmetic
// instead (dense): no walk.
//
// Every query goes through q, so planning passes the source throttle and
// rides out transient errors like any other read.
func Plan(ctx context.Context, q *source.Querier, p *schema.TablePlan, o Options) ([]Chunk, error) {
	if err := ValidateKey(p); err != nil {
		return nil, err
	}
	n := o.RowsPerChunk(p.Table.AvgRowLength)
	w := walker{q: q, p: p, cols: KeyColumns(p), index: KeyIndex(p)}
	if chunks, ok, err := w.dense(ctx, n); err != nil || ok {
		return chunks, err
	}
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

// DenseFill is the share of its key range a table's rows must fill, by the
// table statistics' estimate, for Plan to split a one-column integer key's
// range by arithmetic instead of walking the index.
const DenseFill = 0.5

// dense plans a table whose key is one integer column filling its range
// (AUTO_INCREMENT ids, the common case) from the key's smallest and largest
// value alone: a boundary every n key values. Two index dives replace the
// walk, which reads the whole index — as much work for MySQL as COUNT(*),
// and every chunk waits for it. No chunk can hold more than n rows (it
// spans n key values); a gap only makes a chunk smaller, and the planned
// row counts are estimates (width × the estimated fill). ok is false when
// the key is not such a key, or the table's estimated rows fill less than
// DenseFill of the range: a sparse or skewed key would make many small
// chunks, so it keeps the walk.
func (w *walker) dense(ctx context.Context, n int) (chunks []Chunk, ok bool, err error) {
	est := w.p.Table.EstimatedRows
	if len(w.cols) != 1 || !integerKey(w.p) || est <= 0 {
		return nil, false, nil
	}
	k := make(Key, 2)
	found, err := w.q.QueryRow(ctx, ratelimit.Plan, rangeQuery(w.p.Source, w.index, w.cols[0]), nil, &k[0], &k[1])
	if err != nil {
		return nil, false, fmt.Errorf("plan %s: %w", w.p.Source, err)
	}
	if !found || k[0] == nil {
		// Empty: one chunk, unbounded both ways.
		return []Chunk{{Table: w.p.Source, Of: 1}}, true, nil
	}
	// Every integer key arrives as int64 but an unsigned BIGINT's, which
	// may also arrive as uint64.
	signed := !w.cols[0].Unsigned
	lo, okLo := keyPosition(NormalizeKey(w.cols, k[:1])[0], signed)
	hi, okHi := keyPosition(NormalizeKey(w.cols, k[1:])[0], signed)
	if !okLo || !okHi || hi < lo {
		return nil, false, nil
	}
	span := hi - lo + 1 // 0: the whole 64-bit range, never dense
	if span == 0 || float64(est) < DenseFill*float64(span) {
		return nil, false, nil
	}
	fill := min(1, float64(est)/float64(span))
	var bounds []uint64
	for b := lo + uint64(n) - 1; b < hi && b >= lo; b += uint64(n) {
		bounds = append(bounds, b)
	}
	// A last chunk under a quarter of the width joins the previous one.
	if len(bounds) > 0 && hi-bounds[len(bounds)-1] < uint64(n)/4 {
		bounds = bounds[:len(bounds)-1]
	}
	chunks = make([]Chunk, len(bounds)+1)
	var lower []byte
	prev := lo - 1
	for i := range chunks {
		c := Chunk{Table: w.p.Source, ID: i, Of: len(chunks), Lower: lower}
		end := hi
		if i < len(bounds) {
			end = bounds[i]
			c.Upper = EncodeKey(Key{keyValue(end, signed)})
		}
		c.Rows = int64(math.Round(fill * float64(end-prev)))
		chunks[i] = c
		lower, prev = c.Upper, end
	}
	return chunks, true, nil
}

// integerKey says whether p's key is one integer column (not BIT, YEAR or
// a decimal).
func integerKey(p *schema.TablePlan) bool {
	cols := p.KeyColumns()
	if len(cols) != 1 {
		return false
	}
	switch cols[0].Column.DataType {
	case "tinyint", "smallint", "mediumint", "int", "bigint":
		return true
	}
	return false
}

// keyPosition maps an integer key value to an unsigned position that
// orders as the column does (signed values offset by 2^63).
func keyPosition(v any, signed bool) (uint64, bool) {
	switch x := v.(type) {
	case int64:
		if signed {
			return uint64(x) ^ 1<<63, true
		}
		return uint64(x), x >= 0
	case uint64:
		return x, !signed
	}
	return 0, false
}

// keyValue is keyPosition's inverse, in the type the driver returns for
// the column (an unsigned BIGINT above MaxInt64 as uint64).
func keyValue(pos uint64, signed bool) any {
	if signed {
		return int64(pos ^ 1<<63)
	}
	if pos <= math.MaxInt64 {
		return int64(pos)
	}
	return pos
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
