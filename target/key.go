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
// of keys, in Spanner's order (CompareKeys), when the keys are all of
// int64 parts. ok is false for any other key shape: a range would still
// hold every key, but MySQL orders strings by collation and Spanner by
// bytes, so a batch read in MySQL order can span most of the table in
// Spanner's, and a read-write transaction locks what it reads; read those
// by key set. A range read costs the emulator one scan where a key set
// costs one lookup per key, and on Spanner it is one contiguous read; for
// dense integer keys the range holds the batch's keys and little else.
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
		if CompareKeys(k, lo) < 0 {
			lo = k
		}
		if CompareKeys(k, hi) > 0 {
			hi = k
		}
	}
	return spanner.KeyRange{Start: lo, End: hi, Kind: spanner.ClosedClosed}, true
}
