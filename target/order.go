package target

import (
	"bytes"
	"math"
	"math/big"
	"strings"
	"time"

	"cloud.google.com/go/civil"

	"github.com/livemigrate/livemigrate/schema"
)

// CompareKeys orders two keys of converted values as Spanner orders its
// primary keys (ascending, column by column).
func CompareKeys(a, b []any) int {
	for i := range a {
		if i >= len(b) {
			return 1
		}
		if c := CompareValue(a[i], b[i]); c != 0 {
			return c
		}
	}
	if len(a) < len(b) {
		return -1
	}
	return 0
}

// CompareValue orders two values of one key column as Spanner does: NULL
// first; INT64, NUMERIC, FLOAT (NaN first), DATE and TIMESTAMP by value;
// BOOL false before true; STRING by its UTF-8 bytes (no collation) and
// BYTES by bytes.
func CompareValue(a, b any) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		}
		return 1
	}
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			return cmpOrdered(x, y)
		}
	case bool:
		if y, ok := b.(bool); ok {
			switch {
			case x == y:
				return 0
			case !x:
				return -1
			}
			return 1
		}
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y)
		}
	case []byte:
		if y, ok := b.([]byte); ok {
			return bytes.Compare(x, y)
		}
	case float64:
		if y, ok := b.(float64); ok {
			return cmpFloat(x, y)
		}
	case float32:
		if y, ok := b.(float32); ok {
			return cmpFloat(float64(x), float64(y))
		}
	case civil.Date:
		if y, ok := b.(civil.Date); ok {
			switch {
			case x.Before(y):
				return -1
			case y.Before(x):
				return 1
			}
			return 0
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y)
		}
	case *big.Rat, big.Rat:
		if rx, ry := AsRat(a), AsRat(b); rx != nil && ry != nil {
			return rx.Cmp(ry)
		}
	}
	// Mismatched types cannot occur in one key column; order them
	// deterministically anyway.
	return bytes.Compare(schema.AppendCanonical(nil, a), schema.AppendCanonical(nil, b))
}

// AsRat is a NUMERIC value as *big.Rat (nil for any other type).
func AsRat(v any) *big.Rat {
	switch x := v.(type) {
	case *big.Rat:
		return x
	case big.Rat:
		return &x
	}
	return nil
}

func cmpOrdered[T int64 | float64](x, y T) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func cmpFloat(x, y float64) int {
	switch nx, ny := math.IsNaN(x), math.IsNaN(y); {
	case nx && ny:
		return 0
	case nx:
		return -1
	case ny:
		return 1
	}
	return cmpOrdered(x, y)
}
