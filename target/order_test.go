package target

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"
)

func TestCompareValue(t *testing.T) {
	ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		a, b any
		want int
	}{
		{nil, int64(1), -1},
		{int64(-5), int64(3), -1},
		{"B", "a", -1}, // bytes, not a collation: 'B' (0x42) < 'a' (0x61)
		{"abc", "ABC", 1},
		{"z", "é", -1}, // é is 0xC3 0xA9
		{"a", "a ", -1},
		{"a\t", "a", 1}, // a PAD SPACE collation says the opposite
		{[]byte{0xff}, []byte{0x00, 0x00}, 1},
		{false, true, -1},
		{true, true, 0},
		{math.NaN(), math.Inf(-1), -1},
		{1.5, 1.25, 1},
		{float32(-1), float32(2), -1},
		{big.NewRat(3, 2), big.NewRat(15, 10), 0},
		{*big.NewRat(-1, 3), big.NewRat(0, 1), -1},
		{civil.Date{Year: 2020, Month: 2, Day: 29}, civil.Date{Year: 2020, Month: 3, Day: 1}, -1},
		{ts, ts.Add(time.Microsecond), -1},
	}
	for _, c := range cases {
		if got := CompareValue(c.a, c.b); got != c.want {
			t.Errorf("CompareValue(%v, %v) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := CompareValue(c.b, c.a); got != -c.want {
			t.Errorf("CompareValue(%v, %v) = %d, want %d (antisymmetry)", c.b, c.a, got, -c.want)
		}
	}
	// Strings order by their UTF-8 bytes, whatever their case or script.
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("aAbBzZ é€𝄞\x00~")
	for i := 0; i < 2000; i++ {
		a, b := randString(rng, alphabet), randString(rng, alphabet)
		if got, want := CompareValue(a, b), strings.Compare(a, b); got != want {
			t.Fatalf("CompareValue(%q, %q) = %d, byte order says %d", a, b, got, want)
		}
	}
	if CompareKeys([]any{int64(1), "B"}, []any{int64(1), "a"}) != -1 || CompareKeys([]any{int64(2), "A"}, []any{int64(1), "z"}) != 1 {
		t.Errorf("CompareKeys must order column by column")
	}
}

func randString(rng *rand.Rand, alphabet []rune) string {
	n := rng.IntN(6)
	r := make([]rune, n)
	for i := range r {
		r[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(r)
}
