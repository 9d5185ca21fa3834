package rowdiff

import (
	"math/big"
	"reflect"
	"testing"

	"github.com/livemigrate/livemigrate/schema"
)

func TestCompare(t *testing.T) {
	p := &schema.TablePlan{Cols: []schema.ColumnPlan{{Target: "a"}, {Target: "b"}, {Target: "v"}, {Target: "n"}}, Key: []int{0, 1}}
	src := [][]any{
		{int64(1), "x", "same", big.NewRat(3, 2)},
		{int64(1), "y", "old", nil},
		{int64(2), "x", "gone", nil},
		{int64(3), "x", "", nil},
	}
	dst := [][]any{
		{int64(1), "x", "same", big.NewRat(15, 10)}, // equal after the mapping: NUMERIC scale does not matter
		{int64(1), "y", "new", nil},
		{int64(3), "x", nil, nil}, // '' vs NULL
		{int64(4), "x", "extra", nil},
	}
	got := Compare(p, src, dst)
	want := []Difference{
		{Kind: Different, Key: []any{int64(1), "y"}, Columns: []string{"v"}},
		{Kind: Missing, Key: []any{int64(2), "x"}},
		{Kind: Different, Key: []any{int64(3), "x"}, Columns: []string{"v"}},
		{Kind: Extra, Key: []any{int64(4), "x"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Compare:\n got %+v\nwant %+v", got, want)
	}
	if d := Compare(p, src, src); len(d) != 0 {
		t.Fatalf("a table differs from itself: %+v", d)
	}
}

func TestRow(t *testing.T) {
	p := &schema.TablePlan{Cols: []schema.ColumnPlan{{Target: "k"}, {Target: "v"}, {Target: "n"}}, Key: []int{0}}
	cases := []struct {
		src, dst []any
		kind     Kind
		cols     []string
	}{
		{nil, nil, "", nil},
		{[]any{int64(1), "a", nil}, nil, Missing, nil},
		{nil, []any{int64(1), "a", nil}, Extra, nil},
		{[]any{int64(1), "a", big.NewRat(1, 2)}, []any{int64(1), "a", big.NewRat(5, 10)}, "", nil},
		{[]any{int64(1), "", nil}, []any{int64(1), nil, ""}, Different, []string{"v", "n"}},
	}
	for _, c := range cases {
		kind, cols := Row(p, c.src, c.dst)
		if kind != c.kind || !reflect.DeepEqual(cols, c.cols) {
			t.Errorf("Row(%v, %v) = %q %v, want %q %v", c.src, c.dst, kind, cols, c.kind, c.cols)
		}
	}
}
