package chunking

import (
	"fmt"
	"strings"

	"github.com/livemigrate/livemigrate/schema"
)

// This file is the source-side statement builder: every SQL text the engine
// sends to MySQL for a table is rendered here, by pure functions of the
// plan and the bounds, so a test can read (and EXPLAIN) exactly what runs.

func from(table, index string) string {
	f := schema.QuoteIdent(table)
	if index != "" {
		f += " FORCE INDEX (" + schema.QuoteIdent(index) + ")"
	}
	return f
}

func whereAfter(cols []KeyColumn, after Key) (string, []any) {
	if after == nil {
		return "", nil
	}
	s, a := After(cols, after, false)
	return " WHERE " + s, a
}

func keyList(cols []KeyColumn) string {
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = schema.QuoteIdent(c.Name)
	}
	return strings.Join(sel, ", ")
}

// boundaryQuery: the key n index entries after `after`.
func boundaryQuery(table, index string, cols []KeyColumn, after Key, n int) (string, []any) {
	where, args := whereAfter(cols, after)
	return fmt.Sprintf("SELECT %s FROM %s%s ORDER BY %s LIMIT 1 OFFSET %d",
		keyList(cols), from(table, index), where, OrderBy(cols, false), n-1), args
}

// rangeQuery: the smallest and largest key of a one-column key (two index
// dives).
func rangeQuery(table, index string, col KeyColumn) string {
	k := schema.QuoteIdent(col.Name)
	return fmt.Sprintf("SELECT MIN(%s), MAX(%s) FROM %s", k, k, from(table, index))
}

// tailQuery counts at most n index entries after `after`.
func tailQuery(table, index string, cols []KeyColumn, after Key, n int) (string, []any) {
	where, args := whereAfter(cols, after)
	return fmt.Sprintf("SELECT COUNT(*) FROM (SELECT 1 FROM %s%s ORDER BY %s LIMIT %d) t",
		from(table, index), where, OrderBy(cols, false), n), args
}

// SelectList renders the column expressions of a table's rows, in plan
// column order (spatial columns as WKT, SET as its bitmask, ...).
func SelectList(p *schema.TablePlan) string {
	sel := make([]string, len(p.Cols))
	for i, c := range p.Cols {
		sel[i] = c.Mapping.Select
	}
	return strings.Join(sel, ", ")
}

// PageQuery renders one keyset page of chunk c after cursor (nil: from
// the chunk's start): at most limit rows in key order, with predicates the
// key index answers with a range scan.
func PageQuery(p *schema.TablePlan, cols []KeyColumn, selectList string, c Chunk, cursor Key, limit int) (string, []any, error) {
	where, args, err := Where(cols, c, cursor)
	if err != nil {
		return "", nil, err
	}
	q := "SELECT " + selectList + " FROM " + schema.QuoteIdent(p.Source)
	if where != "" {
		q += " WHERE " + where
	}
	q += fmt.Sprintf(" ORDER BY %s LIMIT %d", OrderBy(cols, false), limit)
	return q, args, nil
}

// KeysBetweenQuery renders the query that lists the keys present between
// lo and hi (both inclusive): re-validation asks it about a written batch.
func KeysBetweenQuery(p *schema.TablePlan, cols []KeyColumn, lo, hi Key) (string, []any) {
	l, la := After(cols, lo, true)
	h, ha := AtMost(cols, hi)
	return "SELECT " + keyList(cols) + " FROM " + schema.QuoteIdent(p.Source) + " WHERE " + l + " AND " + h, append(la, ha...)
}

// CountQuery counts a table's rows.
func CountQuery(table string) string { return "SELECT COUNT(*) FROM " + schema.QuoteIdent(table) }

// InQuery renders the lookup of rows by exact key values: selectList of
// the rows whose key is one of n keys, e.g. "(a, b) IN ((?, ?), (?, ?))"
// (a row-constructor IN, which MariaDB and MySQL answer with a range scan
// on the key index). Arguments are the n keys' values, key by key. MySQL
// compares them under the key columns' collations, so a caller that needs
// byte-exact keys must compare what comes back (verify does).
func InQuery(p *schema.TablePlan, cols []KeyColumn, selectList string, n int) string {
	tuple := make([]string, len(cols))
	for i, c := range cols {
		tuple[i] = c.Param
	}
	one := strings.Join(tuple, ", ")
	lhs := keyList(cols)
	if len(cols) > 1 {
		one, lhs = "("+one+")", "("+lhs+")"
	}
	list := make([]string, n)
	for i := range list {
		list[i] = one
	}
	return "SELECT " + selectList + " FROM " + schema.QuoteIdent(p.Source) + " WHERE " + lhs + " IN (" + strings.Join(list, ", ") + ")"
}

// KeyList renders the key columns as a select list.
func KeyList(cols []KeyColumn) string { return keyList(cols) }
