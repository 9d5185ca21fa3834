package verify

import (
	"bytes"
	"math"
	"math/big"
	"strings"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"

	"github.com/livemigrate/livemigrate/schema"
)

// Protection is what verify needs from the PII protector besides the
// Protect step the engine already applies to every source row. The pii
// package's Protector has these methods; verify finds them on the engine's
// protector by a type assertion, so nothing is wired by hand. Every call
// runs inside the worker: no plaintext leaves it.
type Protection interface {
	// Reveal rewrites the protected cells of a stored row (target column
	// order) to their plaintexts, in place: encrypt (AEAD) cells have a
	// fresh nonce per write, so two rows compare only once revealed.
	Reveal(table string, row []any) error
	// RevealKey rewrites a stored key's deterministic cells to plaintext.
	RevealKey(table string, key []any) error
	// ProtectKey rewrites a plaintext key to its stored form.
	ProtectKey(table string, key []any) error
	// KeyProtected says whether the table's key is stored protected; its
	// keys are then printed as tokens.
	KeyProtected(table string) bool
	// KeyToken is the printable, reversible stand-in of a plaintext key.
	KeyToken(table string, key []any) (string, error)
}

// Key renders a stored key for reports, logs and the results table: its
// canonical text (schema.KeyString), or, where the table's key is
// protected, the PII key token of its plaintext. Every key verify prints
// goes through here.
func (v *Verifier) Key(table string, stored []any) string {
	if v.Prot != nil && v.Prot.KeyProtected(table) {
		plain := append([]any(nil), stored...)
		if err := v.Prot.RevealKey(table, plain); err != nil {
			return "pii:unreadable"
		}
		tok, err := v.Prot.KeyToken(table, plain)
		if err != nil {
			return "pii:unreadable"
		}
		return tok
	}
	return schema.KeyString(spanner.Key(stored))
}

// keyPart turns a converted key value into one spanner.Key accepts (the
// client takes big.Rat, not *big.Rat).
func keyPart(v any) any {
	if r, ok := v.(*big.Rat); ok && r != nil {
		return *r
	}
	return v
}

// spannerKey builds a Spanner key from converted key values.
func spannerKey(vals []any) spanner.Key {
	k := make(spanner.Key, len(vals))
	for i, v := range vals {
		k[i] = keyPart(v)
	}
	return k
}

// enc is the map key of a key: its canonical encoding, equal exactly when
// Spanner would store the same key.
func enc(key []any) string { return string(schema.CanonicalRow(key)) }

// compareKeys orders two keys of converted values as Spanner orders its
// primary keys (ascending, column by column).
func compareKeys(a, b []any) int {
	for i := range a {
		if i >= len(b) {
			return 1
		}
		if c := compareValue(a[i], b[i]); c != 0 {
			return c
		}
	}
	if len(a) < len(b) {
		return -1
	}
	return 0
}

// compareValue orders two values of one key column as Spanner does: NULL
// first; INT64, NUMERIC, FLOAT (NaN first), DATE and TIMESTAMP by value;
// BOOL false before true; STRING by its UTF-8 bytes (no collation) and
// BYTES by bytes.
func compareValue(a, b any) int {
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
		if rx, ry := rat(a), rat(b); rx != nil && ry != nil {
			return rx.Cmp(ry)
		}
	}
	// Mismatched types cannot occur in one key column; order them
	// deterministically anyway.
	return bytes.Compare(schema.AppendCanonical(nil, a), schema.AppendCanonical(nil, b))
}

func rat(v any) *big.Rat {
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

// CompareKeys is compareKeys for tests outside the package.
func CompareKeys(a, b []any) int { return compareKeys(a, b) }
