package schema

import (
	"bytes"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"
)

// TestDecodeIsConvertsInverse: for every Kind, a value as the converter
// produces it, stored in a Spanner row (spanner.NewRow encodes it as a
// mutation would), decodes back to a value with the same canonical
// encoding — and NULL stays NULL. This is what lets the writer's dedup
// read, the chaos test and verify compare target rows with source rows.
func TestDecodeIsConvertsInverse(t *testing.T) {
	cases := []struct {
		kind Kind
		v    any
		null any // the typed NULL a nullable column holds
	}{
		{KindInt64, int64(-42), spanner.NullInt64{}},
		{KindYear, int64(2155), spanner.NullInt64{}},
		{KindBitInt64, int64(1) << 62, spanner.NullInt64{}},
		{KindBool, true, spanner.NullBool{}},
		{KindBitBool, false, spanner.NullBool{}},
		{KindUint64Numeric, new(big.Rat).SetUint64(18446744073709551615), spanner.NullNumeric{}},
		{KindNumeric, big.NewRat(-12345, 100), spanner.NullNumeric{}},
		{KindFloat32, float32(1.5), spanner.NullFloat32{}},
		{KindFloat64, 2.25, spanner.NullFloat64{}},
		{KindBytes, []byte{0, 1, 0xff}, []byte(nil)},
		{KindBitBytes, []byte{0x80}, []byte(nil)},
		{KindDate, civil.Date{Year: 1, Month: 1, Day: 1}, spanner.NullDate{}},
		{KindDatetime, time.Date(2020, 2, 29, 23, 59, 59, 999999000, time.UTC), spanner.NullTime{}},
		{KindTimestamp, time.Date(1970, 1, 1, 0, 0, 0, 1000, time.UTC), spanner.NullTime{}},
		{KindSetArray, []string{"Red", "Dark Blue", ""}, []string(nil)},
		{KindJSON, spanner.NullJSON{Value: json.RawMessage(`{"b":1,"a":[true,null]}`), Valid: true}, spanner.NullJSON{}},
		// Integers beyond 2^53 and a bare string document survive exactly.
		{KindJSON, spanner.NullJSON{Value: json.RawMessage(`[18446744073709551615,-9223372036854775807]`), Valid: true}, spanner.NullJSON{}},
		{KindJSON, spanner.NullJSON{Value: json.RawMessage(`"just a string ✓"`), Valid: true}, spanner.NullJSON{}},
		{KindString, "Zoë 🚀", spanner.NullString{}},
		{KindUint64String, "18446744073709551615", spanner.NullString{}},
		{KindDecimalString, "-0.000000000000000000000000000001", spanner.NullString{}},
		{KindTextString, "838:59:59", spanner.NullString{}},
	}
	for _, c := range cases {
		row, err := spanner.NewRow([]string{"v", "n"}, []any{c.v, c.null})
		if err != nil {
			t.Fatalf("kind %d: NewRow: %v", c.kind, err)
		}
		got, err := DecodeCell(row, 0, c.kind)
		if err != nil {
			t.Fatalf("kind %d: decode: %v", c.kind, err)
		}
		if !bytes.Equal(AppendCanonical(nil, got), AppendCanonical(nil, c.v)) {
			t.Errorf("kind %d: %#v decoded as %#v", c.kind, c.v, got)
		}
		null, err := DecodeCell(row, 1, c.kind)
		if err != nil {
			t.Fatalf("kind %d: decode NULL: %v", c.kind, err)
		}
		if !bytes.Equal(AppendCanonical(nil, null), []byte{tagNull}) {
			t.Errorf("kind %d: NULL decoded as %#v", c.kind, null)
		}
	}
}

// TestDecodeRowAndKey reads a whole row and its key.
func TestDecodeRowAndKey(t *testing.T) {
	p := &TablePlan{Cols: []ColumnPlan{
		{Target: "a", Mapping: Mapping{Kind: KindString}},
		{Target: "b", Mapping: Mapping{Kind: KindInt64}},
		{Target: "c", Mapping: Mapping{Kind: KindDate}},
	}, Key: []int{1, 0}}
	vals := []any{"k", int64(7), civil.Date{Year: 2024, Month: 2, Day: 29}}
	row, err := spanner.NewRow([]string{"a", "b", "c"}, vals)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRow(row, p)
	if err != nil {
		t.Fatal(err)
	}
	if d := p.DiffColumns(vals, got); d != nil {
		t.Fatalf("DecodeRow differs in %v: %#v", d, got)
	}
	// DecodeKey reads the key columns in key order from the row's start.
	krow, _ := spanner.NewRow([]string{"b", "a"}, []any{int64(7), "k"})
	k, err := DecodeKey(krow, p)
	if err != nil {
		t.Fatal(err)
	}
	if KeyString(k) != KeyString(spanner.Key{int64(7), "k"}) {
		t.Fatalf("DecodeKey = %v", k)
	}
}
