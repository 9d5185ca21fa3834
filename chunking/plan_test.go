package chunking

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

func TestRowsPerChunk(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		avg  int64
		want int
	}{
		{"defaults, no statistics", Options{}, 0, DefaultTargetRows},
		{"defaults, small rows", Options{}, 100, DefaultTargetRows},
		{"defaults, 4 KiB rows hit the byte cap", Options{}, 4096, DefaultMaxBytes / 4096},
		{"explicit target", Options{TargetRows: 1000}, 100, 1000},
		{"byte cap", Options{TargetRows: 1000, MaxBytes: 10_000}, 100, MinRows},
		{"byte cap above floor", Options{TargetRows: 1000, MaxBytes: 50_000}, 100, 500},
		{"tiny explicit target is honoured", Options{TargetRows: 7}, 100, 7},
		{"huge rows floor at MinRows", Options{}, 1 << 30, MinRows},
	}
	for _, c := range cases {
		if got := c.o.RowsPerChunk(c.avg); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
}

// TestKeyCodecRoundTrip: random keys of every value type survive the codec.
func TestKeyCodecRoundTrip(t *testing.T) {
	for seed := uint64(0); seed < 5; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		for i := 0; i < 1000; i++ {
			k := make(Key, 1+r.IntN(4))
			for j := range k {
				switch r.IntN(5) {
				case 0:
					k[j] = nil
				case 1:
					k[j] = int64(r.Uint64())
				case 2:
					k[j] = r.Uint64()
				case 3:
					k[j] = r.NormFloat64()
				default:
					b := make([]byte, r.IntN(300))
					for x := range b {
						b[x] = byte(r.IntN(256))
					}
					k[j] = b
				}
			}
			got, err := DecodeKey(EncodeKey(k))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(EncodeKey(got), EncodeKey(k)) || len(got) != len(k) {
				t.Fatalf("seed %d: %v → %v", seed, k, got)
			}
		}
	}
}

// TestKeyPosition: an integer key's position orders as the column does and
// maps back to the value the driver returns (property, over random values
// and the edges).
func TestKeyPosition(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	signed := []int64{math.MinInt64, -1, 0, 1, math.MaxInt64}
	unsigned := []uint64{0, 1, math.MaxInt64, math.MaxInt64 + 1, math.MaxUint64}
	for i := 0; i < 2000; i++ {
		signed = append(signed, int64(r.Uint64()))
		unsigned = append(unsigned, r.Uint64())
	}
	for i, a := range signed {
		pa, ok := keyPosition(a, true)
		if !ok || keyValue(pa, true) != any(a) {
			t.Fatalf("signed %d: position %d, back %v", a, pa, keyValue(pa, true))
		}
		b := signed[(i+1)%len(signed)]
		pb, _ := keyPosition(b, true)
		if (a < b) != (pa < pb) {
			t.Fatalf("signed %d < %d but positions %d, %d", a, b, pa, pb)
		}
	}
	for i, a := range unsigned {
		v := any(a) // as the driver returns it: int64 up to MaxInt64
		if a <= math.MaxInt64 {
			v = int64(a)
		}
		pa, ok := keyPosition(v, false)
		if !ok || pa != a || keyValue(pa, false) != v {
			t.Fatalf("unsigned %d: position %d, back %v", a, pa, keyValue(pa, false))
		}
		b := unsigned[(i+1)%len(unsigned)]
		if (a < b) != (pa < b) {
			t.Fatalf("unsigned %d < %d but positions disagree", a, b)
		}
	}
	if _, ok := keyPosition(int64(-1), false); ok {
		t.Error("a negative value of an unsigned column has a position")
	}
}
