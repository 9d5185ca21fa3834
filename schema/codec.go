package schema

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"
	"google.golang.org/protobuf/types/known/structpb"
)

// DecodeRow reads a Spanner row holding every column of p (TargetColumns
// order) into the Go types the converter produces, so a row read back
// compares with a converted source row (e.g. through KeyString).
func DecodeRow(row *spanner.Row, p *TablePlan) ([]any, error) {
	out := make([]any, len(p.Cols))
	for i := range p.Cols {
		v, err := DecodeCell(row, i, p.Cols[i].Mapping.Stored())
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", p.Cols[i].Target, err)
		}
		out[i] = v
	}
	return out, nil
}

// DecodeKey reads the key columns of a Spanner row into the Go types the
// converter produces for them, so KeyString matches across both sides.
func DecodeKey(row *spanner.Row, p *TablePlan) (spanner.Key, error) {
	k := make(spanner.Key, len(p.Key))
	for j, ki := range p.Key {
		v, err := DecodeCell(row, j, p.Cols[ki].Mapping.Stored())
		if err != nil {
			return nil, err
		}
		k[j] = v
	}
	return k, nil
}

// SpannerTypeKind is the kind whose DecodeCell reads a column of Spanner
// type typ (as INFORMATION_SCHEMA spells it) into the Go type the converter
// writes there; false for a type no mapping produces.
func SpannerTypeKind(typ string) (Kind, bool) {
	switch {
	case typ == "INT64":
		return KindInt64, true
	case typ == "BOOL":
		return KindBool, true
	case typ == "FLOAT64":
		return KindFloat64, true
	case typ == "FLOAT32":
		return KindFloat32, true
	case typ == "NUMERIC":
		return KindNumeric, true
	case typ == "DATE":
		return KindDate, true
	case typ == "TIMESTAMP":
		return KindTimestamp, true
	case typ == "JSON":
		return KindJSON, true
	case strings.HasPrefix(typ, "BYTES"):
		return KindBytes, true
	case strings.HasPrefix(typ, "STRING"):
		return KindString, true
	case strings.HasPrefix(typ, "ARRAY<STRING"):
		return KindSetArray, true
	}
	return 0, false
}

// DecodeCell reads column i of row as the converter's Go type for kind.
func DecodeCell(row *spanner.Row, i int, kind Kind) (any, error) {
	switch kind {
	case KindInt64, KindYear, KindBitInt64:
		var v spanner.NullInt64
		err := row.Column(i, &v)
		return nullOr(v.Valid, v.Int64), err
	case KindBool, KindBitBool:
		var v spanner.NullBool
		err := row.Column(i, &v)
		return nullOr(v.Valid, v.Bool), err
	case KindUint64Numeric, KindNumeric:
		var v spanner.NullNumeric
		err := row.Column(i, &v)
		if !v.Valid {
			return nil, err
		}
		r := v.Numeric
		return &r, err
	case KindFloat32:
		var v spanner.NullFloat32
		err := row.Column(i, &v)
		return nullOr(v.Valid, v.Float32), err
	case KindFloat64:
		var v spanner.NullFloat64
		err := row.Column(i, &v)
		return nullOr(v.Valid, v.Float64), err
	case KindBytes, KindBitBytes:
		var v []byte
		err := row.Column(i, &v)
		if v == nil {
			return nil, err
		}
		return v, err
	case KindDate:
		var v spanner.NullDate
		err := row.Column(i, &v)
		return nullOr(v.Valid, v.Date), err
	case KindDatetime, KindTimestamp:
		var v spanner.NullTime
		err := row.Column(i, &v)
		return nullOr(v.Valid, v.Time), err
	case KindSetArray:
		var v []string
		err := row.Column(i, &v)
		return v, err
	case KindJSON:
		// The document's text as Spanner returns it: the client's own
		// decoding goes through float64 and rounds integers beyond 2^53,
		// which would make equal documents compare different.
		var g spanner.GenericColumnValue
		if err := row.Column(i, &g); err != nil {
			return nil, err
		}
		if _, null := g.Value.GetKind().(*structpb.Value_NullValue); null {
			return spanner.NullJSON{}, nil
		}
		return spanner.NullJSON{Value: json.RawMessage(g.Value.GetStringValue()), Valid: true}, nil
	default:
		var v spanner.NullString
		err := row.Column(i, &v)
		return nullOr(v.Valid, v.StringVal), err
	}
}

func nullOr[T any](valid bool, v T) any {
	if !valid {
		return nil
	}
	return v
}

// KeyString renders a key of converted values canonically, so a key read
// back from Spanner and the same key from MySQL compare equal.
func KeyString(k spanner.Key) string {
	var b strings.Builder
	for i, v := range k {
		if i > 0 {
			b.WriteByte('|')
		}
		switch x := v.(type) {
		case nil:
			b.WriteString("N")
		case int64:
			b.WriteString("i" + strconv.FormatInt(x, 10))
		case bool:
			b.WriteString("B" + strconv.FormatBool(x))
		case string:
			b.WriteString("s" + strconv.Quote(x))
		case []byte:
			b.WriteString("x" + hex.EncodeToString(x))
		case Numeric:
			b.WriteString("n" + string(x))
		case *big.Rat:
			b.WriteString("n" + canonicalRat(x))
		case big.Rat:
			b.WriteString("n" + canonicalRat(&x))
		case float32:
			b.WriteString("f" + strconv.FormatFloat(float64(x), 'g', -1, 32))
		case float64:
			b.WriteString("f" + strconv.FormatFloat(x, 'g', -1, 64))
		case civil.Date:
			b.WriteString("d" + x.String())
		case time.Time:
			b.WriteString("t" + x.UTC().Format(time.RFC3339Nano))
		default:
			b.WriteString(fmt.Sprintf("?%v", x))
		}
	}
	return b.String()
}
