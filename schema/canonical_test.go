package schema

import (
	"bytes"
	"encoding/json"
	"math"
	"math/big"
	"math/rand"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"
)

// TestCanonicalDistinguishes: values that Spanner stores differently encode
// differently, including the classic concatenation collision, NULL versus
// empty, and types that print alike.
func TestCanonicalDistinguishes(t *testing.T) {
	pairs := []struct {
		name string
		a, b []any
	}{
		{"concatenation", []any{"12", "3"}, []any{"1", "23"}},
		{"null vs empty string", []any{nil}, []any{""}},
		{"null vs empty bytes", []any{nil}, []any{[]byte{}}},
		{"null vs empty set", []any{nil}, []any{[]string{}}},
		{"empty set vs empty member", []any{[]string{}}, []any{[]string{""}}},
		{"set split", []any{[]string{"a,b"}}, []any{[]string{"a", "b"}}},
		{"string vs bytes", []any{"ab"}, []any{[]byte("ab")}},
		{"int vs numeric", []any{int64(1)}, []any{big.NewRat(1, 1)}},
		{"zero vs negative zero", []any{0.0}, []any{math.Copysign(0, -1)}},
		{"float32 vs float64", []any{float32(1.5)}, []any{1.5}},
		{"microsecond", []any{time.Date(2020, 1, 1, 0, 0, 0, 1000, time.UTC)}, []any{time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"case", []any{"Abc"}, []any{"abc"}},
		{"trailing space", []any{"a "}, []any{"a"}},
		{"json value", []any{spanner.NullJSON{Value: json.RawMessage(`{"a":1}`), Valid: true}}, []any{spanner.NullJSON{Value: json.RawMessage(`{"a":2}`), Valid: true}}},
		{"json null vs SQL null", []any{spanner.NullJSON{Value: json.RawMessage(`null`), Valid: true}}, []any{spanner.NullJSON{}}},
	}
	for _, p := range pairs {
		if bytes.Equal(CanonicalRow(p.a), CanonicalRow(p.b)) {
			t.Errorf("%s: %v and %v encode equally", p.name, p.a, p.b)
		}
	}
}

// TestCanonicalEquates: the same cell from either side encodes equally.
func TestCanonicalEquates(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	pairs := []struct {
		name string
		a, b any
	}{
		{"time zone", time.Date(2020, 6, 1, 12, 0, 0, 0, time.UTC), time.Date(2020, 6, 1, 14, 0, 0, 0, berlin)},
		{"numeric scale", big.NewRat(150, 100), big.NewRat(3, 2)},
		{"numeric value vs pointer", *big.NewRat(1, 3), big.NewRat(1, 3)},
		{"json normalised", spanner.NullJSON{Value: json.RawMessage(`{ "b": [1, 2.50], "a": "x" }`), Valid: true},
			spanner.NullJSON{Value: map[string]any{"a": "x", "b": []any{float64(1), 2.5}}, Valid: true}},
		{"date", civil.Date{Year: 2020, Month: 2, Day: 29}, civil.Date{Year: 2020, Month: 2, Day: 29}},
		{"nil bytes is null", []byte(nil), nil},
	}
	for _, p := range pairs {
		if !bytes.Equal(AppendCanonical(nil, p.a), AppendCanonical(nil, p.b)) {
			t.Errorf("%s: %v and %v encode differently", p.name, p.a, p.b)
		}
	}
}

// TestCanonicalInjective is a property test: random rows of strings and
// bytes (the types most prone to collisions) encode equally only when
// they are equal.
func TestCanonicalInjective(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	alphabet := []string{"", "a", "1", "2", "12", "\x00", "|", "s", "\"", "N"}
	gen := func() []any {
		n := 1 + r.Intn(3)
		row := make([]any, n)
		for i := range row {
			s := ""
			for j := r.Intn(3); j > 0; j-- {
				s += alphabet[r.Intn(len(alphabet))]
			}
			switch r.Intn(3) {
			case 0:
				row[i] = s
			case 1:
				row[i] = []byte(s)
			default:
				row[i] = nil
			}
		}
		return row
	}
	seen := map[string]string{}
	for i := 0; i < 20000; i++ {
		row := gen()
		enc := string(CanonicalRow(row))
		desc := describe(row)
		if prev, ok := seen[enc]; ok && prev != desc {
			t.Fatalf("%s and %s encode equally", prev, desc)
		}
		seen[enc] = desc
	}
}

func describe(row []any) string {
	var b bytes.Buffer
	for _, v := range row {
		switch x := v.(type) {
		case nil:
			b.WriteString("N;")
		case string:
			b.WriteString("s" + x + ";" + string(rune(len(x))))
		case []byte:
			b.WriteString("x" + string(x) + ";" + string(rune(len(x))))
		}
	}
	return b.String()
}

func TestDiffColumns(t *testing.T) {
	p := &TablePlan{Cols: []ColumnPlan{{Target: "id"}, {Target: "name"}, {Target: "note"}}}
	got := p.DiffColumns([]any{int64(1), "a", nil}, []any{int64(1), "A", ""})
	if len(got) != 2 || got[0] != "name" || got[1] != "note" {
		t.Fatalf("DiffColumns = %v, want [name note]", got)
	}
	if d := p.DiffColumns([]any{int64(1), "a", nil}, []any{int64(1), "a", nil}); d != nil {
		t.Fatalf("equal rows differ in %v", d)
	}
}
