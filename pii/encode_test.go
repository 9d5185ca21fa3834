package pii_test

import (
	"encoding/json"
	"math"
	"math/big"
	"math/rand"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"

	"github.com/livemigrate/livemigrate/pii"
)

// randomValue draws a value of a random type with random content, biased
// towards edge cases.
func randomValue(r *rand.Rand) any {
	str := func() string {
		var b strings.Builder
		for i, n := 0, r.Intn(12); i < n; i++ {
			b.WriteRune([]rune{'a', 'Z', '0', ' ', '\x00', 'é', '李', '🚀', '"', '\\'}[r.Intn(10)])
		}
		return b.String()
	}
	switch r.Intn(12) {
	case 0:
		return []int64{0, -1, math.MinInt64, math.MaxInt64, r.Int63() - r.Int63()}[r.Intn(5)]
	case 1:
		return r.Intn(2) == 1
	case 2:
		return math.Float32frombits(r.Uint32())
	case 3:
		return math.Float64frombits(r.Uint64())
	case 4:
		return str()
	case 5:
		b := make([]byte, r.Intn(20))
		r.Read(b)
		return b
	case 6:
		return new(big.Rat).SetFrac(big.NewInt(r.Int63()-r.Int63()), big.NewInt(r.Int63n(1e12)+1))
	case 7:
		return civil.Date{Year: 1 + r.Intn(9999), Month: time.Month(1 + r.Intn(12)), Day: 1 + r.Intn(28)}
	case 8:
		return time.Unix(r.Int63n(253402300799)-62135596800, r.Int63n(1e9)).UTC()
	case 9:
		out := []string{}
		for i, n := 0, r.Intn(4); i < n; i++ {
			out = append(out, str())
		}
		return out
	case 10:
		doc, _ := json.Marshal(map[string]any{str(): []any{r.Int63(), str(), nil}})
		return spanner.NullJSON{Value: json.RawMessage(doc), Valid: true}
	}
	return r.Uint64()
}

// TestEncodingRoundTripProperty: Decode(Encode(v)) == v for random values
// of every type, and the encoding is injective on them (two different
// values never encode alike).
func TestEncodingRoundTripProperty(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	seen := map[string]any{}
	for i := 0; i < 20000; i++ {
		v := randomValue(r)
		enc, err := pii.Encode(v)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", v, err)
		}
		got, err := pii.Decode(enc)
		if err != nil || !same(v, got) {
			t.Fatalf("round trip of %T %#v: %#v, %v", v, v, got, err)
		}
		if prev, ok := seen[string(enc)]; ok && !same(prev, v) {
			t.Fatalf("%#v and %#v encode alike", prev, v)
		}
		seen[string(enc)] = v
	}
}

// TestEncodingTypesApart: values that print alike but differ in type encode
// apart.
func TestEncodingTypesApart(t *testing.T) {
	vals := []any{int64(5), uint64(5), "5", []byte("5"), float64(5), float32(5), new(big.Rat).SetInt64(5), []string{"5"}}
	seen := map[string]bool{}
	for _, v := range vals {
		enc, err := pii.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if seen[string(enc)] {
			t.Fatalf("%T collides", v)
		}
		seen[string(enc)] = true
	}
	if _, err := pii.Encode(nil); err == nil {
		t.Fatal("NULL must not encode")
	}
	if _, err := pii.Encode(struct{}{}); err == nil {
		t.Fatal("unknown types must not encode")
	}
}

// FuzzDecode: arbitrary bytes never panic, and what decodes re-encodes to
// the same bytes.
func FuzzDecode(f *testing.F) {
	for _, v := range everyValue() {
		enc, _ := pii.Encode(v)
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := pii.Decode(b)
		if err != nil {
			return
		}
		enc, err := pii.Encode(v)
		if err != nil {
			t.Fatalf("decoded %T does not re-encode: %v", v, err)
		}
		if v2, err := pii.Decode(enc); err != nil || !same(v, v2) {
			t.Fatalf("re-decode: %#v vs %#v", v, v2)
		}
	})
}
