package pii

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"
)

// The plaintext encoding: what is encrypted, hashed or bound as associated
// data. One version byte, one type tag, then the value:
//
//	int64      'i' 8 bytes big-endian two's complement
//	uint64     'u' 8 bytes big-endian (driver values of BIGINT UNSIGNED keys)
//	bool       'b' 1 byte
//	float32    'f' 4 bytes IEEE bits (NaN payloads and -0 kept)
//	float64    'd' 8 bytes IEEE bits
//	string     's' the UTF-8 bytes
//	[]byte     'y' the bytes
//	*big.Rat   'n' RatString ("a" or "a/b"): exact
//	civil.Date 'D' 4 bytes year, 1 byte month, 1 byte day
//	time.Time  't' 8 bytes Unix seconds, 4 bytes nanoseconds (UTC)
//	[]string   'a' uvarint count, then uvarint length + bytes per element
//	JSON       'j' the document's bytes
//
// The tag keeps types apart (int64 5 and string "5" never collide) and lets
// decryption give back the exact Go value. NULL is never encoded: a NULL
// cell stays NULL under every policy.
const encVersion = 1

const (
	tagInt64   = 'i'
	tagUint64  = 'u'
	tagBool    = 'b'
	tagFloat32 = 'f'
	tagFloat64 = 'd'
	tagString  = 's'
	tagBytes   = 'y'
	tagNumeric = 'n'
	tagDate    = 'D'
	tagTime    = 't'
	tagStrings = 'a'
	tagJSON    = 'j'
)

// Normalize turns the values an application may hand the Spanner client
// (int, *string, spanner.NullString, big.Rat, ...) into the values the
// backfill's converter produces, so both paths encode equal values
// identically. ok is false for a type this package cannot protect; null is
// true for a NULL in any of its spellings.
func Normalize(v any) (out any, null bool, ok bool) {
	switch x := v.(type) {
	case nil:
		return nil, true, true
	case int64, uint64, bool, float32, float64, string, *big.Rat, civil.Date, time.Time:
		return v, false, true
	case []byte:
		return x, x == nil, true
	case []string:
		return x, x == nil, true
	case int:
		return int64(x), false, true
	case int8:
		return int64(x), false, true
	case int16:
		return int64(x), false, true
	case int32:
		return int64(x), false, true
	case uint8:
		return int64(x), false, true
	case uint16:
		return int64(x), false, true
	case uint32:
		return int64(x), false, true
	case big.Rat:
		return &x, false, true
	case spanner.NullJSON:
		return x, !x.Valid, true
	case spanner.NullString:
		return x.StringVal, !x.Valid, true
	case spanner.NullInt64:
		return x.Int64, !x.Valid, true
	case spanner.NullBool:
		return x.Bool, !x.Valid, true
	case spanner.NullFloat64:
		return x.Float64, !x.Valid, true
	case spanner.NullFloat32:
		return x.Float32, !x.Valid, true
	case spanner.NullDate:
		return x.Date, !x.Valid, true
	case spanner.NullTime:
		return x.Time, !x.Valid, true
	case spanner.NullNumeric:
		r := x.Numeric
		return &r, !x.Valid, true
	case *string:
		return deref(x)
	case *int64:
		return deref(x)
	case *bool:
		return deref(x)
	case *float64:
		return deref(x)
	case *float32:
		return deref(x)
	case *civil.Date:
		return deref(x)
	case *time.Time:
		return deref(x)
	case interface{ Rat() *big.Rat }:
		// An exact decimal in text form (the converter's schema.Numeric):
		// encoded as the number it is, like a *big.Rat from the live path.
		if r := x.Rat(); r != nil {
			return r, false, true
		}
	}
	return nil, false, false
}

func deref[T any](p *T) (any, bool, bool) {
	if p == nil {
		return nil, true, true
	}
	return *p, false, true
}

// appendValue appends the encoding of a normalised, non-NULL value.
func appendValue(b []byte, v any) ([]byte, error) {
	b = append(b, encVersion)
	switch x := v.(type) {
	case int64:
		return binary.BigEndian.AppendUint64(append(b, tagInt64), uint64(x)), nil
	case uint64:
		return binary.BigEndian.AppendUint64(append(b, tagUint64), x), nil
	case bool:
		if x {
			return append(b, tagBool, 1), nil
		}
		return append(b, tagBool, 0), nil
	case float32:
		return binary.BigEndian.AppendUint32(append(b, tagFloat32), math.Float32bits(x)), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(b, tagFloat64), math.Float64bits(x)), nil
	case string:
		return append(append(b, tagString), x...), nil
	case []byte:
		return append(append(b, tagBytes), x...), nil
	case *big.Rat:
		if x == nil {
			return nil, fmt.Errorf("nil *big.Rat")
		}
		return append(append(b, tagNumeric), x.RatString()...), nil
	case civil.Date:
		b = binary.BigEndian.AppendUint32(append(b, tagDate), uint32(int32(x.Year)))
		return append(b, byte(x.Month), byte(x.Day)), nil
	case time.Time:
		b = binary.BigEndian.AppendUint64(append(b, tagTime), uint64(x.Unix()))
		return binary.BigEndian.AppendUint32(b, uint32(x.Nanosecond())), nil
	case []string:
		b = binary.AppendUvarint(append(b, tagStrings), uint64(len(x)))
		for _, s := range x {
			b = append(binary.AppendUvarint(b, uint64(len(s))), s...)
		}
		return b, nil
	case spanner.NullJSON:
		raw, err := jsonBytes(x)
		if err != nil {
			return nil, err
		}
		return append(append(b, tagJSON), raw...), nil
	}
	return nil, fmt.Errorf("values of Go type %T cannot be protected", v)
}

func jsonBytes(x spanner.NullJSON) ([]byte, error) {
	switch v := x.Value.(type) {
	case json.RawMessage:
		return v, nil
	case []byte:
		return v, nil
	case string:
		return []byte(v), nil
	}
	b, err := json.Marshal(x.Value)
	if err != nil {
		return nil, fmt.Errorf("JSON value cannot be encoded")
	}
	return b, nil
}

// Encode returns the canonical encoding of v (any type Normalize accepts).
// It fails for NULL, which is never encoded.
func Encode(v any) ([]byte, error) {
	n, null, ok := Normalize(v)
	if !ok {
		return nil, fmt.Errorf("values of Go type %T cannot be protected", v)
	}
	if null {
		return nil, fmt.Errorf("NULL has no encoding")
	}
	return encode(nil, n)
}

func encode(b []byte, v any) ([]byte, error) { return appendValue(b, v) }

// Decode is the inverse of Encode.
func Decode(b []byte) (any, error) {
	if len(b) < 2 || b[0] != encVersion {
		return nil, errCorrupt
	}
	tag, p := b[1], b[2:]
	fixed := func(n int) error {
		if len(p) != n {
			return errCorrupt
		}
		return nil
	}
	switch tag {
	case tagInt64:
		if err := fixed(8); err != nil {
			return nil, err
		}
		return int64(binary.BigEndian.Uint64(p)), nil
	case tagUint64:
		if err := fixed(8); err != nil {
			return nil, err
		}
		return binary.BigEndian.Uint64(p), nil
	case tagBool:
		if err := fixed(1); err != nil || p[0] > 1 {
			return nil, errCorrupt
		}
		return p[0] == 1, nil
	case tagFloat32:
		if err := fixed(4); err != nil {
			return nil, err
		}
		return math.Float32frombits(binary.BigEndian.Uint32(p)), nil
	case tagFloat64:
		if err := fixed(8); err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(p)), nil
	case tagString:
		return string(p), nil
	case tagBytes:
		return append([]byte{}, p...), nil
	case tagNumeric:
		r, ok := new(big.Rat).SetString(string(p))
		if !ok || len(p) == 0 {
			return nil, errCorrupt
		}
		return r, nil
	case tagDate:
		if err := fixed(6); err != nil {
			return nil, err
		}
		return civil.Date{Year: int(int32(binary.BigEndian.Uint32(p))), Month: time.Month(p[4]), Day: int(p[5])}, nil
	case tagTime:
		if err := fixed(12); err != nil {
			return nil, err
		}
		ns := binary.BigEndian.Uint32(p[8:])
		if ns >= 1e9 {
			return nil, errCorrupt
		}
		return time.Unix(int64(binary.BigEndian.Uint64(p)), int64(ns)).UTC(), nil
	case tagStrings:
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)) {
			return nil, errCorrupt
		}
		p = p[k:]
		out := make([]string, 0, n)
		for i := uint64(0); i < n; i++ {
			l, k := binary.Uvarint(p)
			if k <= 0 || l > uint64(len(p)-k) {
				return nil, errCorrupt
			}
			out = append(out, string(p[k:k+int(l)]))
			p = p[k+int(l):]
		}
		if len(p) != 0 {
			return nil, errCorrupt
		}
		return out, nil
	case tagJSON:
		return spanner.NullJSON{Value: json.RawMessage(append([]byte{}, p...)), Valid: true}, nil
	}
	return nil, errCorrupt
}

var errCorrupt = fmt.Errorf("plaintext encoding is corrupt")

// appendLP appends a length-prefixed field (uvarint length, then bytes):
// the associated data and hash inputs are concatenations of such fields, so
// no two different field lists encode alike.
func appendLP(b []byte, s []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendUvarint(b []byte, n uint64) []byte { return binary.AppendUvarint(b, n) }

func uvarint(b []byte) (uint64, int) { return binary.Uvarint(b) }

func appendLPString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}
