package target

import (
	"reflect"
	"testing"

	"cloud.google.com/go/spanner"
)

func TestCoveringRange(t *testing.T) {
	cases := []struct {
		name   string
		keys   []spanner.Key
		lo, hi spanner.Key
		ok     bool
	}{
		{"one key", []spanner.Key{{int64(7)}}, spanner.Key{int64(7)}, spanner.Key{int64(7)}, true},
		{"unordered ints", []spanner.Key{{int64(5)}, {int64(-3)}, {int64(9)}, {int64(0)}}, spanner.Key{int64(-3)}, spanner.Key{int64(9)}, true},
		{"composite: first part decides", []spanner.Key{{int64(2), int64(1)}, {int64(1), int64(99)}, {int64(2), int64(0)}}, spanner.Key{int64(1), int64(99)}, spanner.Key{int64(2), int64(1)}, true},
		{"string key", []spanner.Key{{"b"}, {"a"}}, nil, nil, false},
		{"int then string", []spanner.Key{{int64(1), "x"}}, nil, nil, false},
		{"bytes key", []spanner.Key{{[]byte("a")}}, nil, nil, false},
		{"no keys", nil, nil, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, ok := CoveringRange(c.keys)
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v", ok, c.ok)
			}
			if !ok {
				return
			}
			if !reflect.DeepEqual(r.Start, c.lo) || !reflect.DeepEqual(r.End, c.hi) || r.Kind != spanner.ClosedClosed {
				t.Errorf("range %v, want [%v, %v]", r, c.lo, c.hi)
			}
		})
	}
}

// Every key of a batch lies inside its covering range, whatever the order
// the keys came in (a property over pseudo-random composite keys).
func TestCoveringRangeHoldsEveryKey(t *testing.T) {
	seed := uint64(42)
	next := func() int64 { seed = seed*6364136223846793005 + 1442695040888963407; return int64(seed>>33) - 1<<30 }
	for round := 0; round < 200; round++ {
		keys := make([]spanner.Key, 1+round%17)
		for i := range keys {
			keys[i] = spanner.Key{next() % 4, next()}
		}
		r, ok := CoveringRange(keys)
		if !ok {
			t.Fatal("int keys have a covering range")
		}
		for _, k := range keys {
			if CompareKeys(k, r.Start) < 0 || CompareKeys(k, r.End) > 0 {
				t.Fatalf("key %v outside [%v, %v]", k, r.Start, r.End)
			}
		}
	}
}
