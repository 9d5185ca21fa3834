// Package rowdiff owns deciding whether rows of a table on the two sides
// agree: the source's rows as the backfill converts (and protects) them,
// and the target's rows as Spanner returns them, decoded by
// schema.DecodeRow.
//
// The one idea: rows are compared after the mapping, by their canonical
// encodings (schema.AppendCanonical: type-tagged, length-prefixed, NULL a
// tag of its own), keyed by their key's encoding. So a difference is a
// difference of what Spanner stores, never of how a driver prints a value,
// and a reported difference names the key and the differing columns, never
// the values themselves. Callers feed it rows in batches (a page and the
// same keys read from Spanner), so memory is bounded by the batch.
package rowdiff

import (
	"bytes"
	"sort"

	"github.com/livemigrate/livemigrate/schema"
)

// Kind classifies a difference.
type Kind string

// Kinds of differences.
const (
	Missing   Kind = "missing"   // in the source, not in the target
	Extra     Kind = "extra"     // in the target, not in the source
	Different Kind = "different" // in both, with different values
)

// Difference is one key whose rows disagree.
type Difference struct {
	Kind Kind
	// Key holds the key's values (converted / decoded), in key order.
	Key []any
	// Columns names the differing target columns (Different only).
	Columns []string
}

// Key returns the values of p's key columns of a row in Cols order.
func Key(p *schema.TablePlan, row []any) []any {
	k := make([]any, len(p.Key))
	for i, j := range p.Key {
		k[i] = row[j]
	}
	return k
}

// Compare compares the rows of table p on both sides (each in Cols order;
// a key must not repeat on one side) and returns the differences, ordered
// by the keys' canonical encodings.
func Compare(p *schema.TablePlan, source, target [][]any) []Difference {
	type entry struct {
		row []any
		enc []byte
	}
	index := func(rows [][]any) map[string]entry {
		m := make(map[string]entry, len(rows))
		for _, r := range rows {
			m[string(schema.CanonicalRow(Key(p, r)))] = entry{row: r, enc: schema.CanonicalRow(r)}
		}
		return m
	}
	src, dst := index(source), index(target)
	var keys []string
	for k := range src {
		keys = append(keys, k)
	}
	for k := range dst {
		if _, ok := src[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []Difference
	for _, k := range keys {
		s, inSrc := src[k]
		d, inDst := dst[k]
		switch {
		case !inDst:
			out = append(out, Difference{Kind: Missing, Key: Key(p, s.row)})
		case !inSrc:
			out = append(out, Difference{Kind: Extra, Key: Key(p, d.row)})
		case !bytes.Equal(s.enc, d.enc):
			out = append(out, Difference{Kind: Different, Key: Key(p, s.row), Columns: p.DiffColumns(s.row, d.row)})
		}
	}
	return out
}

// Row compares the rows of one key (nil: the key is absent on that side)
// and returns the kind of difference, "" when they agree, with the
// differing columns for Different.
func Row(p *schema.TablePlan, source, target []any) (Kind, []string) {
	switch {
	case source == nil && target == nil:
		return "", nil
	case target == nil:
		return Missing, nil
	case source == nil:
		return Extra, nil
	}
	if cols := p.DiffColumns(source, target); len(cols) > 0 {
		return Different, cols
	}
	return "", nil
}
