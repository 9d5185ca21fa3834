package detect

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Sampling defaults: rows read per table, and the prefix of each value kept.
const (
	SampleRows   = 1000
	SamplePrefix = 256
)

// SampleSQL is the one query that samples a table: the first rows in the
// clustered index (InnoDB reads them in primary-key order without sorting
// or scanning further), each value cut to its first SamplePrefix characters
// by MySQL, so wide TEXT and BLOB values are never transferred whole. One
// query per table rather than `WHERE col IS NOT NULL LIMIT n` per column:
// that filter can scan the whole table when a column is mostly NULL.
func SampleSQL(table string, columns []string, rows int) string {
	if rows <= 0 {
		rows = SampleRows
	}
	sel := make([]string, len(columns))
	for i, c := range columns {
		sel[i] = fmt.Sprintf("LEFT(%s, %d)", quote(c), SamplePrefix)
	}
	return fmt.Sprintf("SELECT %s FROM %s LIMIT %d", strings.Join(sel, ", "), quote(table), rows)
}

func quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// Sample reads up to rows rows of table (in db's current database) and
// returns the non-NULL, non-empty values of each column as text. Choose the
// columns with Sampled.
func Sample(ctx context.Context, db *sql.DB, table string, columns []string, rows int) (map[string][]string, error) {
	out := make(map[string][]string, len(columns))
	if len(columns) == 0 {
		return out, nil
	}
	rs, err := db.QueryContext(ctx, SampleSQL(table, columns, rows))
	if err != nil {
		return nil, fmt.Errorf("sample %s: %w", table, err)
	}
	defer rs.Close()
	cells := make([]sql.RawBytes, len(columns))
	ptrs := make([]any, len(columns))
	for i := range cells {
		ptrs[i] = &cells[i]
	}
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("sample %s: %w", table, err)
		}
		for i, c := range cells {
			if len(c) > 0 {
				out[columns[i]] = append(out[columns[i]], string(c))
			}
		}
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("sample %s: %w", table, err)
	}
	return out, nil
}
