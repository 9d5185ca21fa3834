package copier

import (
	"time"

	"github.com/livemigrate/livemigrate/schema"
)

// Converter applies each column's mapping to a raw source row.
type Converter struct {
	Plan *schema.TablePlan
	Loc  *time.Location
}

// Convert returns the Spanner values of raw (plan column order), their
// approximate size, how many cells were nulled by on_invalid: null, and —
// when the row must be dead-lettered — the first bad column and why.
func (c *Converter) Convert(raw []any) (vals []any, size int64, nulled int, badCol string, bv *schema.BadValue) {
	vals = make([]any, len(raw))
	for i, v := range raw {
		col := &c.Plan.Cols[i]
		out, b := col.Mapping.Convert(v, c.Loc)
		if b != nil {
			if col.NullOnInvalid {
				nulled++
				vals[i] = nil
				continue
			}
			return nil, 0, nulled, col.Source, b
		}
		vals[i] = out
	}
	return vals, rowBytes(raw), nulled, "", nil
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
