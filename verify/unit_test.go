package verify

import (
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/livemigrate/livemigrate/schema"
)

func col(kind schema.Kind, scale int) *schema.ColumnPlan {
	return &schema.ColumnPlan{Mapping: schema.Mapping{Kind: kind}, Column: schema.Column{Scale: scale}}
}

// TestSourceParam: the MySQL parameter of each converted key value, and
// the values no MySQL row can convert to.
func TestSourceParam(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2024, 7, 1, 10, 0, 0, 123000, time.UTC)
	cases := []struct {
		name string
		c    *schema.ColumnPlan
		v    any
		want any // nil: no parameter (the row cannot exist)
	}{
		{"int64", col(schema.KindInt64, 0), int64(-7), int64(-7)},
		{"bool true", col(schema.KindBool, 0), true, int64(1)},
		{"bit(1)", col(schema.KindBitBool, 0), false, int64(0)},
		{"unsigned max", col(schema.KindUint64Numeric, 0), new(big.Rat).SetUint64(math.MaxUint64), uint64(math.MaxUint64)},
		{"unsigned negative", col(schema.KindUint64Numeric, 0), big.NewRat(-1, 1), nil},
		{"unsigned fraction", col(schema.KindUint64Numeric, 0), big.NewRat(1, 2), nil},
		{"unsigned as string", col(schema.KindUint64String, 0), "18446744073709551615", uint64(math.MaxUint64)},
		{"decimal at scale", col(schema.KindNumeric, 3), big.NewRat(-11, 2), "-5.500"},
		{"decimal beyond scale", col(schema.KindNumeric, 3), big.NewRat(1, 10000), nil},
		{"decimal string", col(schema.KindDecimalString, 10), "1.5000000000", "1.5000000000"},
		{"float", col(schema.KindFloat32, 0), float32(0.1), float64(float32(0.1))},
		{"bit bytes", col(schema.KindBitBytes, 0), []byte{0x01, 0x02}, uint64(0x0102)},
		{"bit too wide", col(schema.KindBitBytes, 0), make([]byte, 9), nil},
		{"date", col(schema.KindDate, 0), civil.Date{Year: 2024, Month: 2, Day: 29}, "2024-02-29"},
		{"datetime in the source zone", col(schema.KindDatetime, 0), ts, "2024-07-01 12:00:00.000123"},
		{"timestamp in UTC", col(schema.KindTimestamp, 0), ts, "2024-07-01 10:00:00.000123"},
		{"sub-microsecond time", col(schema.KindTimestamp, 0), ts.Add(1), nil},
		{"json cannot be a key", col(schema.KindJSON, 0), "{}", nil},
		{"null", col(schema.KindInt64, 0), nil, nil},
	}
	for _, c := range cases {
		got, ok := sourceParam(c.c, c.v, berlin)
		if !ok {
			got = nil
		}
		if c.want == nil && ok {
			t.Errorf("%s: got parameter %v, want none", c.name, got)
			continue
		}
		if c.want != nil && (!ok || got != c.want) {
			if b, isB := got.([]byte); !isB || string(b) != c.want {
				t.Errorf("%s: got %#v (%v), want %#v", c.name, got, ok, c.want)
			}
		}
	}
}

func TestSinceValue(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	plan := func(kind schema.Kind) *schema.TablePlan {
		return &schema.TablePlan{Source: "t", VersionColumn: 1, Cols: []schema.ColumnPlan{{Source: "id"},
			{Source: "v", Mapping: schema.Mapping{Kind: kind}, Column: schema.Column{ColumnType: "x"}}}}
	}
	cases := []struct {
		kind    schema.Kind
		in      string
		want    any
		wantErr bool
	}{
		{schema.KindTimestamp, "36h", now.Add(-36 * time.Hour), false},
		{schema.KindTimestamp, "7d", now.Add(-7 * 24 * time.Hour), false},
		{schema.KindTimestamp, "2026-11-30T00:00:00+01:00", time.Date(2026, 11, 29, 23, 0, 0, 0, time.UTC), false},
		{schema.KindDatetime, "2026-11-30 01:00:00", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), false},
		{schema.KindTimestamp, "2026-11-30 01:00:00", time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC), false},
		{schema.KindDate, "2d", civil.Date{Year: 2026, Month: 11, Day: 29}, false},
		{schema.KindInt64, "250", int64(250), false},
		{schema.KindInt64, "yesterday", nil, true},
		{schema.KindTimestamp, "soon", nil, true},
		{schema.KindString, "v2", "v2", false},
		{schema.KindSetArray, "a", nil, true},
	}
	for _, c := range cases {
		got, err := SinceValue(plan(c.kind), c.in, now, berlin)
		if (err != nil) != c.wantErr {
			t.Errorf("%v %q: err %v", c.kind, c.in, err)
			continue
		}
		if err != nil {
			if _, ok := err.(*InputError); !ok {
				t.Errorf("%q: error %T is not bad input", c.in, err)
			}
			continue
		}
		if tt, ok := got.(time.Time); ok {
			if !tt.Equal(c.want.(time.Time)) {
				t.Errorf("%v %q = %v, want %v", c.kind, c.in, tt, c.want)
			}
		} else if got != c.want {
			t.Errorf("%v %q = %#v, want %#v", c.kind, c.in, got, c.want)
		}
	}
	// No version column: verified in full.
	if v, err := SinceValue(&schema.TablePlan{VersionColumn: -1}, "1h", now, berlin); v != nil || err != nil {
		t.Errorf("a table without a version column: %v, %v", v, err)
	}
	if r, _ := SinceValue(plan(schema.KindNumeric), "1.5", now, berlin); r.(*big.Rat).Cmp(big.NewRat(3, 2)) != 0 {
		t.Errorf("numeric since: %v", r)
	}
}

// TestSummarize: counts add up per table, the status follows drift and
// repair, and the table hash does not depend on how the rows were split
// into units or in what order the units finished.
func TestSummarize(t *testing.T) {
	h := func(rows ...string) string {
		var x hash128
		for _, r := range rows {
			b := []byte(strings.Repeat(r, 16))[:16]
			x.add(b)
		}
		return x.String()
	}
	a := []Result{
		{Table: "t", Side: SideSource, Unit: 0, Rows: 2, Hash: h("a", "b")},
		{Table: "t", Side: SideSource, Unit: 1, Rows: 1, Hash: h("c"), Missing: 1, Diffs: []Difference{{Kind: Missing, Key: "i1"}}},
		{Table: "t", Side: SideTarget, Unit: 0, Rows: 2},
		{Table: "u", Side: SideSource, Unit: 0, Rows: 5, Different: 1, Repaired: 1},
	}
	b := []Result{
		{Table: "t", Side: SideSource, Unit: 1, Rows: 2, Hash: h("c", "a")},
		{Table: "t", Side: SideSource, Unit: 0, Rows: 1, Hash: h("b"), Missing: 1},
		{Table: "t", Side: SideTarget, Unit: 0, Rows: 2},
	}
	sa := Summarize("r", []string{"t", "u", "empty"}, a)
	sb := Summarize("r", []string{"t"}, b)
	if sa[0].Hash != sb[0].Hash {
		t.Errorf("hash depends on the split: %s vs %s", sa[0].Hash, sb[0].Hash)
	}
	if s := sa[0]; s.SourceRows != 3 || s.TargetKeys != 2 || s.Missing != 1 || s.Status != StatusDrift || len(s.Diffs) != 1 || s.SourceUnits != 2 || s.TargetUnits != 1 {
		t.Errorf("t: %+v", s)
	}
	if s := sa[1]; s.Status != StatusRepaired || s.Drift() != 0 {
		t.Errorf("u: %+v", s)
	}
	if s := sa[2]; s.Status != StatusClean || s.SourceRows != 0 {
		t.Errorf("empty: %+v", s)
	}
}

func TestInSize(t *testing.T) {
	seen := map[int]bool{}
	for n := 1; n <= maxIn; n++ {
		s := inSize(n)
		if s < n || s >= 2*n && n > 1 {
			t.Fatalf("inSize(%d) = %d", n, s)
		}
		seen[s] = true
	}
	if len(seen) > 11 {
		t.Errorf("%d statement shapes for one table; want at most 11", len(seen))
	}
}
