package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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
// protocol (int64, uint64, float32, float64, []byte, nil) into the Go value
// the Spanner client encodes as m.SpannerType. loc is the zone DATETIME
// values are read in. The bytes of a []byte value are borrowed: Convert
// never keeps them (the reader scans into reused buffers), so a BYTES value
// is copied and a string is made from them.
func (m *Mapping) Convert(v any, loc *time.Location) (any, *BadValue) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return m.ConvertBytes(x, loc)
	}
	switch m.Kind {
	case KindInt64, KindYear:
		if _, ok := v.(int64); ok {
			return v, nil // already the boxed int64 Spanner takes: no new allocation
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
		case uint64:
			s = strconv.FormatUint(x, 10)
		default:
			return nil, unexpected(m, v)
		}
		if m.Kind == KindUint64String {
			return s, nil
		}
		return Numeric(s), nil
	case KindFloat32:
		switch x := v.(type) {
		case float32:
			return v, nil
		case float64:
			return float32(x), nil
		}
	case KindFloat64:
		switch x := v.(type) {
		case float64:
			return v, nil
		case float32:
			return float64(x), nil
		}
	case KindString, KindTextString:
		var s string
		switch x := v.(type) {
		case int64:
			s = strconv.FormatInt(x, 10)
		case uint64:
			s = strconv.FormatUint(x, 10)
		case float32:
			s = strconv.FormatFloat(float64(x), 'g', -1, 32)
		case float64:
			s = strconv.FormatFloat(x, 'g', -1, 64)
		default:
			return nil, unexpected(m, v)
		}
		if bv := m.checkString(s); bv != nil {
			return nil, bv
		}
		return s, nil
	}
	return nil, unexpected(m, v)
}

// ConvertBytes converts a value the driver sent as bytes (text, DECIMAL,
// DATE/DATETIME text, BLOB, BIT, JSON). b is borrowed (see Convert); a nil
// b is SQL NULL.
func (m *Mapping) ConvertBytes(b []byte, loc *time.Location) (any, *BadValue) {
	return m.ConvertIn(b, loc, nil)
}

// ConvertIn is ConvertBytes with the copies a value keeps (text, bytes,
// JSON, decimal text) taken from slab: the reader's one allocation per
// many cells instead of one per cell.
func (m *Mapping) ConvertIn(b []byte, loc *time.Location, slab *Slab) (any, *BadValue) {
	if b == nil {
		return nil, nil
	}
	switch m.Kind {
	case KindInt64, KindYear:
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return nil, bad("integer out of INT64 range")
		}
		return n, nil
	case KindUint64Numeric, KindUint64String:
		if _, err := strconv.ParseUint(string(b), 10, 64); err != nil {
			return nil, bad("unsigned integer is not a number")
		}
		if m.Kind == KindUint64String {
			return slab.AnyString(slab.String(b)), nil
		}
		return slab.AnyNumeric(Numeric(slab.String(b))), nil
	case KindNumeric:
		n, bv := parseNumeric(b, slab)
		if bv != nil {
			return nil, bv
		}
		return slab.AnyNumeric(n), nil
	case KindDecimalString:
		return slab.AnyString(slab.String(b)), nil
	case KindBitBool:
		return bitValue(b) != 0, nil
	case KindBitInt64:
		if len(b) > 8 || (len(b) == 8 && b[0]&0x80 != 0) {
			return nil, bad("BIT value does not fit INT64")
		}
		return int64(bitValue(b)), nil
	case KindBitBytes:
		return slab.AnyBytes(slab.Bytes(b)), nil
	case KindString, KindTextString:
		if !utf8.Valid(b) {
			return nil, bad("invalid UTF-8 in text column")
		}
		s := slab.String(b)
		if bv := m.checkString(s); bv != nil {
			return nil, bv
		}
		return slab.AnyString(s), nil
	case KindSetArray:
		return m.setMembers(b)
	case KindJSON:
		if len(b) > MaxCellBytes {
			return nil, bad("JSON of %d bytes exceeds Spanner's 10 MiB cell limit", len(b))
		}
		if why := CheckJSON(b); why != "" {
			return nil, bad("%s", why)
		}
		return spanner.NullJSON{Value: json.RawMessage(slab.Bytes(b)), Valid: true}, nil
	case KindBytes:
		if len(b) > MaxCellBytes {
			return nil, bad("value of %d bytes exceeds Spanner's 10 MiB cell limit", len(b))
		}
		if m.MaxLen > 0 && int64(len(b)) > m.MaxLen {
			return nil, bad("value of %d bytes exceeds BYTES(%d)", len(b), m.MaxLen)
		}
		return slab.AnyBytes(slab.Bytes(b)), nil
	case KindDate:
		d, err := parseDate(b)
		if err != nil {
			return nil, err
		}
		return slab.AnyDate(d), nil
	case KindDatetime, KindTimestamp:
		if m.Kind == KindTimestamp {
			loc = time.UTC
		}
		t, err := parseDatetime(b, loc)
		if err != nil {
			return nil, err
		}
		return slab.AnyTime(t), nil
	}
	return nil, unexpected(m, b)
}

// setMembers decodes a SET read as "bitmask,text" (SetSelect) into its
// members in definition order, each with MySQL's exact text. Members never
// contain commas, so the text's non-empty parts are the non-empty members
// selected, in order; the bitmask says whether the empty member is there
// too (MySQL's text cannot: a lone empty member reads as the empty set).
func (m *Mapping) setMembers(b []byte) (any, *BadValue) {
	maskText, text, ok := bytes.Cut(b, []byte(","))
	if !ok {
		return nil, bad("SET value is not in bitmask,text form")
	}
	mask, err := strconv.ParseUint(string(maskText), 10, 64)
	if err != nil {
		return nil, bad("SET bitmask is not a number")
	}
	if !utf8.Valid(text) {
		return nil, bad("invalid UTF-8 in SET value")
	}
	if len(m.Members) < 64 && mask>>uint(len(m.Members)) != 0 {
		return nil, bad("SET bitmask has bits beyond the column's %d members", len(m.Members))
	}
	var parts []string
	for _, p := range strings.Split(string(text), ",") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	out := []string{}
	next := 0
	for i := 0; i < 64 && mask>>uint(i) != 0; i++ {
		if mask&(1<<uint(i)) == 0 {
			continue
		}
		if i < len(m.Members) && m.Members[i] == "" {
			out = append(out, "")
			continue
		}
		if next >= len(parts) {
			return nil, bad("SET text has fewer members than its bitmask")
		}
		out = append(out, parts[next])
		next++
	}
	if next != len(parts) {
		return nil, bad("SET text has more members than its bitmask")
	}
	return out, nil
}

func unexpected(m *Mapping, v any) *BadValue {
	return bad("unexpected driver value of Go type %T for %s", v, m.SpannerType)
}

// checkString applies Spanner's cell limit and the column's STRING(n).
func (m *Mapping) checkString(s string) *BadValue {
	if len(s) > MaxCellBytes {
		return bad("value of %d bytes exceeds Spanner's 10 MiB cell limit", len(s))
	}
	// A string of n bytes has at most n characters: count only when needed.
	if m.MaxLen > 0 && int64(len(s)) > m.MaxLen {
		if n := utf8.RuneCountInString(s); int64(n) > m.MaxLen {
			return bad("value of %d characters exceeds STRING(%d)", n, m.MaxLen)
		}
	}
	return nil
}

func bitValue(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}

// digits parses a run of ASCII digits without allocating.
func digits(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func parseDate(s []byte) (civil.Date, *BadValue) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return civil.Date{}, bad("malformed DATE")
	}
	y, ok1 := digits(s[0:4])
	mo, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 {
		return civil.Date{}, bad("malformed DATE")
	}
	if y == 0 || mo == 0 || d == 0 {
		return civil.Date{}, bad("zero date (year, month or day is 0) has no Spanner equivalent")
	}
	if mo > 12 || d > daysIn(mo, y) {
		return civil.Date{}, bad("invalid calendar date")
	}
	return civil.Date{Year: y, Month: time.Month(mo), Day: d}, nil
}

// daysIn is the number of days of month mo (1–12) of year y (proleptic
// Gregorian, as MySQL and Spanner count).
func daysIn(mo, y int) int {
	switch mo {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

var pow10 = [10]int{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// spannerMax is the last instant Spanner's TIMESTAMP can hold.
var spannerMax = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
var spannerMin = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

func parseDatetime(s []byte, loc *time.Location) (time.Time, *BadValue) {
	if len(s) < 10 {
		return time.Time{}, bad("malformed DATETIME")
	}
	d, b := parseDate(s[:10])
	if b != nil {
		return time.Time{}, b
	}
	var hh, mi, ss, ns int
	if len(s) >= 19 {
		var ok1, ok2, ok3 bool
		hh, ok1 = digits(s[11:13])
		mi, ok2 = digits(s[14:16])
		ss, ok3 = digits(s[17:19])
		if !ok1 || !ok2 || !ok3 {
			return time.Time{}, bad("malformed DATETIME")
		}
		if len(s) > 20 && s[19] == '.' {
			frac := s[20:]
			f, ok := digits(frac)
			if !ok || len(frac) > 9 {
				return time.Time{}, bad("malformed DATETIME fraction")
			}
			ns = f * pow10[9-len(frac)]
		}
	}
	if hh > 23 || mi > 59 || ss > 59 {
		return time.Time{}, bad("malformed DATETIME")
	}
	if loc == time.UTC {
		// No gaps in UTC, and every valid date of years 1–9999 is inside
		// Spanner's range: nothing left to check.
		return time.Date(d.Year, d.Month, d.Day, hh, mi, ss, ns, time.UTC), nil
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

// MaxJSONDepth is Spanner's JSON nesting limit.
const MaxJSONDepth = 80

// CheckJSON says why Spanner could not store a document exactly ("" when it
// can): Spanner keeps only the first of duplicate keys, fails on numbers it
// cannot hold as int64, uint64 or a double that round-trips, and nests at
// most 80 levels. The reason never quotes the document.
func CheckJSON(b []byte) string {
	if !utf8.Valid(b) {
		return "JSON document is not valid UTF-8"
	}
	if !json.Valid(b) {
		return "invalid JSON document"
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		obj    bool
		keys   map[string]bool
		expKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return ""
		}
		if err != nil {
			return "invalid JSON document"
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if n := len(stack); n > 0 && stack[n-1].obj {
				stack[n-1].expKey = true
			}
			continue
		}
		var top *frame
		if n := len(stack); n > 0 {
			top = stack[n-1]
		}
		if top != nil && top.obj && top.expKey {
			k, _ := tok.(string)
			if top.keys[k] {
				return "JSON object has a duplicate key (Spanner would keep only the first)"
			}
			top.keys[k] = true
			top.expKey = false
			continue
		}
		switch x := tok.(type) {
		case json.Delim:
			if len(stack) >= MaxJSONDepth {
				return fmt.Sprintf("JSON nests deeper than Spanner's %d levels", MaxJSONDepth)
			}
			stack = append(stack, &frame{obj: x == '{', keys: map[string]bool{}, expKey: x == '{'})
			continue
		case json.Number:
			if !jsonNumberExact(string(x)) {
				return "JSON number cannot be stored exactly by Spanner (not an int64, uint64 or round-trip double)"
			}
		}
		if top != nil && top.obj {
			top.expKey = true
		}
	}
}

// jsonNumberExact reports whether Spanner preserves a JSON number: integers
// in int64 or uint64 range, or a double whose shortest form has the same
// decimal value.
func jsonNumberExact(s string) bool {
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return true
	}
	if _, err := strconv.ParseUint(s, 10, 64); err == nil {
		return true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false
	}
	want, ok1 := new(big.Rat).SetString(s)
	got, ok2 := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	return ok1 && ok2 && want.Cmp(got) == 0
}
