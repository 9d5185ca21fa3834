package target

import (
	"math/big"

	"cloud.google.com/go/spanner"
)

// KeyPart is a row value as a spanner.Key part: the client takes a NUMERIC
// value as *big.Rat in a row but only as big.Rat in a key (DECIMAL and
// BIGINT UNSIGNED keys).
func KeyPart(v any) any {
	if x, ok := v.(*big.Rat); ok && x != nil {
		return *x
	}
	return v
}

// NormalKey is key with every part as KeyPart makes it; it copies only when
// a part changes, so the caller's key is never modified.
func NormalKey(key spanner.Key) spanner.Key {
	for i, v := range key {
		if x, ok := v.(*big.Rat); ok && x != nil {
			out := append(spanner.Key(nil), key...)
			for j := i; j < len(out); j++ {
				out[j] = KeyPart(out[j])
			}
			return out
		}
	}
	return key
}
