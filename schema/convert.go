package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"
)

// BadValue is a value that cannot be carried into Spanner unchanged. It is a
// row-level outcome (the row is dead-lettered or the cell nulled), never a
// job failure. Reason never contains the value itself, which may be PII.
type BadValue struct {
	Reason string
}

func (b *BadValue) Error() string { return b.Reason }

func bad(format string, a ...any) *BadValue { return &BadValue{Reason: fmt.Sprintf(format, a...)} }

// Convert turns one value as go-sql-driver returns it over the binary
// protocol (int64, float32, float64, []byte, nil) into the Go value the
// Spanner client encodes as m.SpannerType. loc is the zone DATETIME values
// are read in.
func (m *Mapping) Convert(v any, loc *time.Location) (any, *BadValue) {
	if v == nil {
		return nil, nil
	}
	switch m.Kind {
	case KindInt64, KindYear:
		switch x := v.(type) {
		case int64:
			return x, nil
		case []byte:
			n, err := strconv.ParseInt(string(x), 10, 64)
			if err != nil {
				return nil, bad("integer out of INT64 range")
			}
			return n, nil
		}
	case KindBool:
		if x, ok := v.(int64); ok {
			if x != 0 && x != 1 {
				return nil, bad("TINYINT(1) value %d is not a boolean (0 or 1); override the column to INT64", x)
			}
			return x == 1, nil
		}
	case KindUint64Numeric, KindUint64String:
		var s string
		switch x := v.(type) {
		case int64:
			s = strconv.FormatInt(x, 10)
		case []byte:
			s = string(x)
		default:
			return nil, unexpected(m, v)
		}
		if m.Kind == KindUint64String {
			return s, nil
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			return nil, bad("unsigned integer is not a number")
		}
		return r, nil
	case KindNumeric:
		s, ok := asString(v)
		if !ok {
			break
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			return nil, bad("DECIMAL is not a number")
		}
		if !fitsNumeric(s) {
			return nil, bad("DECIMAL out of Spanner NUMERIC range (29 integer, 9 fraction digits)")
		}
		return r, nil
	case KindDecimalString:
		if s, ok := asString(v); ok {
			return s, nil
		}
	case KindFloat32:
		switch x := v.(type) {
		case float32:
			return x, nil
		case float64:
			return float32(x), nil
		}
	case KindFloat64:
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		}
	case KindBitBool:
		if b, ok := v.([]byte); ok {
			return bitValue(b) != 0, nil
		}
	case KindBitInt64:
		if b, ok := v.([]byte); ok {
			if len(b) > 8 || (len(b) == 8 && b[0]&0x80 != 0) {
				return nil, bad("BIT value does not fit INT64")
			}
			return int64(bitValue(b)), nil
		}
	case KindBitBytes:
		if b, ok := v.([]byte); ok {
			return b, nil
		}
	case KindString, KindTextString:
		var s string
		switch x := v.(type) {
		case []byte:
			if !utf8.Valid(x) {
				return nil, bad("invalid UTF-8 in text column")
			}
			s = string(x)
		case int64:
			s = strconv.FormatInt(x, 10)
		case float32:
			s = strconv.FormatFloat(float64(x), 'g', -1, 32)
		case float64:
			s = strconv.FormatFloat(x, 'g', -1, 64)
		default:
			return nil, unexpected(m, v)
		}
		if len(s) > MaxCellBytes {
			return nil, bad("value of %d bytes exceeds Spanner's 10 MiB cell limit", len(s))
		}
		if m.MaxLen > 0 && int64(utf8.RuneCountInString(s)) > m.MaxLen {
			return nil, bad("value of %d characters exceeds STRING(%d)", utf8.RuneCountInString(s), m.MaxLen)
		}
		return s, nil
	case KindSetArray:
		if b, ok := v.([]byte); ok {
			if !utf8.Valid(b) {
				return nil, bad("invalid UTF-8 in SET column")
			}
			if len(b) == 0 {
				return []string{}, nil
			}
			return strings.Split(string(b), ","), nil
		}
	case KindJSON:
		if b, ok := v.([]byte); ok {
			if !utf8.Valid(b) || !json.Valid(b) {
				return nil, bad("invalid JSON document")
			}
			if len(b) > MaxCellBytes {
				return nil, bad("JSON of %d bytes exceeds Spanner's 10 MiB cell limit", len(b))
			}
			return spanner.NullJSON{Value: json.RawMessage(append([]byte(nil), b...)), Valid: true}, nil
		}
	case KindBytes:
		if b, ok := v.([]byte); ok {
			if len(b) > MaxCellBytes {
				return nil, bad("value of %d bytes exceeds Spanner's 10 MiB cell limit", len(b))
			}
			if m.MaxLen > 0 && int64(len(b)) > m.MaxLen {
				return nil, bad("value of %d bytes exceeds BYTES(%d)", len(b), m.MaxLen)
			}
			return b, nil
		}
	case KindDate:
		if s, ok := asString(v); ok {
			d, err := parseDate(s)
			if err != nil {
				return nil, err
			}
			return d, nil
		}
	case KindDatetime, KindTimestamp:
		if s, ok := asString(v); ok {
			if m.Kind == KindTimestamp {
				loc = time.UTC
			}
			t, err := parseDatetime(s, loc)
			if err != nil {
				return nil, err
			}
			return t, nil
		}
	}
	return nil, unexpected(m, v)
}

func unexpected(m *Mapping, v any) *BadValue {
	return bad("unexpected driver value of Go type %T for %s", v, m.SpannerType)
}

func asString(v any) (string, bool) {
	switch x := v.(type) {
	case []byte:
		return string(x), true
	case string:
		return x, true
	}
	return "", false
}

func bitValue(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}

// fitsNumeric reports whether a decimal string has at most 29 integer and 9
// fraction digits (Spanner NUMERIC).
func fitsNumeric(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	intPart, frac, _ := strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	frac = strings.TrimRight(frac, "0")
	return len(intPart) <= NumericIntDigits && len(frac) <= NumericScaleDigits
}

func parseDate(s string) (civil.Date, *BadValue) {
	if len(s) < 10 {
		return civil.Date{}, bad("malformed DATE")
	}
	y, e1 := strconv.Atoi(s[0:4])
	mo, e2 := strconv.Atoi(s[5:7])
	d, e3 := strconv.Atoi(s[8:10])
	if e1 != nil || e2 != nil || e3 != nil {
		return civil.Date{}, bad("malformed DATE")
	}
	if y == 0 || mo == 0 || d == 0 {
		return civil.Date{}, bad("zero date (year, month or day is 0) has no Spanner DATE")
	}
	cd := civil.Date{Year: y, Month: time.Month(mo), Day: d}
	if !cd.IsValid() {
		return civil.Date{}, bad("invalid calendar date")
	}
	return cd, nil
}

// spannerMax is the last instant Spanner's TIMESTAMP can hold.
var spannerMax = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
var spannerMin = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

func parseDatetime(s string, loc *time.Location) (time.Time, *BadValue) {
	if len(s) < 10 {
		return time.Time{}, bad("malformed DATETIME")
	}
	d, b := parseDate(s[:10])
	if b != nil {
		return time.Time{}, b
	}
	var hh, mi, ss, ns int
	if len(s) >= 19 {
		var e1, e2, e3 error
		hh, e1 = strconv.Atoi(s[11:13])
		mi, e2 = strconv.Atoi(s[14:16])
		ss, e3 = strconv.Atoi(s[17:19])
		if e1 != nil || e2 != nil || e3 != nil {
			return time.Time{}, bad("malformed DATETIME")
		}
		if len(s) > 20 && s[19] == '.' {
			frac := s[20:]
			f, err := strconv.Atoi(frac)
			if err != nil || len(frac) > 9 {
				return time.Time{}, bad("malformed DATETIME fraction")
			}
			ns = f * int(math.Pow10(9-len(frac)))
		}
	}
	t := time.Date(d.Year, d.Month, d.Day, hh, mi, ss, ns, loc)
	if t.Hour() != hh || t.Minute() != mi || t.Day() != d.Day {
		return time.Time{}, bad("DATETIME does not exist in zone %s (daylight-saving gap)", loc)
	}
	u := t.UTC()
	if u.Before(spannerMin) || u.After(spannerMax) {
		return time.Time{}, bad("DATETIME in zone %s falls outside Spanner's TIMESTAMP range", loc)
	}
	return u, nil
}
