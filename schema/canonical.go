package schema

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"
)

// Canonical value tags. Every encoded value starts with one.
const (
	tagNull    = 'N'
	tagInt     = 'i'
	tagBool    = 'B'
	tagString  = 's'
	tagBytes   = 'x'
	tagNumeric = 'n'
	tagFloat32 = 'f'
	tagFloat64 = 'F'
	tagDate    = 'd'
	tagTime    = 't'
	tagArray   = 'a'
	tagJSON    = 'j'
)

// AppendCanonical appends an unambiguous encoding of one converted value
// (as the converter produces it, or as DecodeCell reads it back from
// Spanner) to dst: a type tag, then a fixed-width or length-prefixed body,
// and NULL as a tag of its own. Two values encode equally exactly when
// Spanner would store the same cell, so a source row and a target row
// compare by their encodings, and a concatenation of encodings cannot
// collide ("12"+"3" never equals "1"+"23").
func AppendCanonical(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, tagNull)
	case int64:
		return binary.BigEndian.AppendUint64(append(dst, tagInt), uint64(x))
	case bool:
		b := byte(0)
		if x {
			b = 1
		}
		return append(dst, tagBool, b)
	case string:
		return appendBody(append(dst, tagString), []byte(x))
	case []byte:
		if x == nil {
			return append(dst, tagNull)
		}
		return appendBody(append(dst, tagBytes), x)
	case Numeric:
		return appendBody(append(dst, tagNumeric), []byte(x))
	case *big.Rat:
		if x == nil {
			return append(dst, tagNull)
		}
		return appendBody(append(dst, tagNumeric), []byte(canonicalRat(x)))
	case big.Rat:
		return appendBody(append(dst, tagNumeric), []byte(canonicalRat(&x)))
	case float32:
		return binary.BigEndian.AppendUint32(append(dst, tagFloat32), math.Float32bits(x))
	case float64:
		return binary.BigEndian.AppendUint64(append(dst, tagFloat64), math.Float64bits(x))
	case civil.Date:
		return appendBody(append(dst, tagDate), []byte(x.String()))
	case time.Time:
		return appendBody(append(dst, tagTime), []byte(x.UTC().Format(time.RFC3339Nano)))
	case []string:
		if x == nil {
			return append(dst, tagNull)
		}
		dst = binary.AppendUvarint(append(dst, tagArray), uint64(len(x)))
		for _, s := range x {
			dst = appendBody(dst, []byte(s))
		}
		return dst
	case spanner.NullJSON:
		if !x.Valid {
			return append(dst, tagNull)
		}
		return appendBody(append(dst, tagJSON), canonicalJSON(x.Value))
	}
	return appendBody(append(dst, '?'), []byte(fmt.Sprintf("%T:%v", v, v)))
}

func appendBody(dst, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}

// CanonicalRow encodes a row (or a key) of converted values.
func CanonicalRow(vals []any) []byte {
	var b []byte
	for _, v := range vals {
		b = AppendCanonical(b, v)
	}
	return b
}

// canonicalJSON renders a JSON document the way Spanner normalises it:
// object keys sorted, no insignificant whitespace, numbers in their
// shortest exact form. Whatever the input (raw text from MySQL or a value
// decoded from Spanner), equal documents render equally.
func canonicalJSON(v any) []byte {
	var raw []byte
	switch x := v.(type) {
	case json.RawMessage:
		raw = x
	case []byte:
		raw = x
	case string:
		raw = []byte(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return []byte(fmt.Sprintf("?%v", x))
		}
		raw = b
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return raw
	}
	out, err := json.Marshal(normalizeNumbers(doc))
	if err != nil {
		return raw
	}
	return out
}

func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
		return x
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return json.Number(strconv.FormatInt(i, 10))
		}
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return json.Number(strconv.FormatUint(u, 10))
		}
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
		}
		return x
	}
	return v
}

// DiffColumns names the target columns whose values differ between two
// rows of p (both in Cols order, converted or decoded values). It compares
// canonical encodings and never returns the values themselves.
func (p *TablePlan) DiffColumns(a, b []any) []string {
	var out []string
	var ea, eb []byte
	for i := range p.Cols {
		var va, vb any
		if i < len(a) {
			va = a[i]
		}
		if i < len(b) {
			vb = b[i]
		}
		ea, eb = AppendCanonical(ea[:0], va), AppendCanonical(eb[:0], vb)
		if !bytes.Equal(ea, eb) {
			out = append(out, p.Cols[i].Target)
		}
	}
	return out
}
