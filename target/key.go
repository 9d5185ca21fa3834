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

// CoveringRange returns the smallest closed key range that holds every key
// of keys, when Spanner's order of those keys is known here: every part of
// every key an INT64 (Spanner orders primary keys ascending, part by part).
// ok is false for any other key shape (strings order by collation in
// MySQL but by bytes in Spanner, and the other types are rarer in keys):
// read those by key set. A range read costs the emulator one scan where a
// key set costs one lookup per key, and on Spanner it is one contiguous
// read; for dense integer keys the range holds the batch's keys and little
// else.
func CoveringRange(keys []spanner.Key) (r spanner.KeyRange, ok bool) {
	if len(keys) == 0 {
		return r, false
	}
	lo, hi := keys[0], keys[0]
	for _, k := range keys {
		if len(k) != len(keys[0]) {
			return r, false
		}
		for _, p := range k {
			if _, isInt := p.(int64); !isInt {
				return r, false
			}
		}
		if compareInts(k, lo) < 0 {
			lo = k
		}
		if compareInts(k, hi) > 0 {
			hi = k
		}
	}
	return spanner.KeyRange{Start: lo, End: hi, Kind: spanner.ClosedClosed}, true
}

// compareInts orders two keys of int64 parts as Spanner does.
func compareInts(a, b spanner.Key) int {
	for i := range a {
		x, y := a[i].(int64), b[i].(int64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}
