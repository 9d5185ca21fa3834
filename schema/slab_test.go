package schema

import (
	"bytes"
	"fmt"
	"math/rand"
	"reflect"
	"runtime"
	"testing"
	"time"

	"cloud.google.com/go/civil"
)

// Values converted into a slab equal what ConvertBytes makes, and stay
// equal while the slab hands out more copies and the source buffer is
// reused (the reader scans every row into the same RawBytes).
func TestConvertInSlab(t *testing.T) {
	maps := []*Mapping{
		mustMap(t, col("varchar", "varchar(300)"), Options{}),
		mustMap(t, col("varbinary", "varbinary(20000)"), Options{}),
		mustMap(t, col("decimal", "decimal(20,4)"), Options{}),
		mustMap(t, col("json", "json"), Options{}),
		mustMap(t, col("bigint", "bigint(20) unsigned"), Options{}),
		mustMap(t, col("datetime", "datetime(6)"), Options{}),
		mustMap(t, col("date", "date"), Options{}),
	}
	r := rand.New(rand.NewSource(1))
	slab := &Slab{}
	buf := make([]byte, 0, 20000)
	type kept struct {
		m   *Mapping
		in  []byte
		got any
	}
	var all []kept
	for i := 0; i < 20000; i++ {
		m := maps[r.Intn(len(maps))]
		buf = buf[:0]
		switch m.Kind {
		case KindString:
			for n := r.Intn(300); n > 0; n-- {
				buf = append(buf, byte('a'+r.Intn(26)))
			}
		case KindBytes:
			n := r.Intn(40)
			if r.Intn(50) == 0 {
				n = slabLargest + r.Intn(5000) // larger than a slab cell
			}
			for ; n > 0; n-- {
				buf = append(buf, byte(r.Intn(256)))
			}
		case KindNumeric:
			buf = append(buf, []byte("-000123.4500")[r.Intn(2):]...)
		case KindJSON:
			buf = append(buf, `{"k":[1,2,"x"]}`...)
		case KindDatetime:
			buf = fmt.Appendf(buf, "20%02d-02-%02d 13:45:%02d.%06d", r.Intn(100), 1+r.Intn(28), r.Intn(60), r.Intn(1000000))
		case KindDate:
			buf = fmt.Appendf(buf, "19%02d-12-%02d", r.Intn(100), 1+r.Intn(31))
		default:
			buf = append(buf, "18446744073709551615"...)
		}
		got, b := m.ConvertIn(buf, time.UTC, slab)
		if b != nil {
			t.Fatalf("%s: %v", buf, b)
		}
		all = append(all, kept{m, bytes.Clone(buf), got})
		for j := range buf { // the reader reuses its scan buffer
			buf[j] = 'Z'
		}
		if i%5000 == 0 {
			runtime.GC() // boxed values point into the slab's buffers: they must keep them
		}
	}
	for _, k := range all {
		want, _ := k.m.ConvertBytes(k.in, time.UTC)
		if !reflect.DeepEqual(k.got, want) {
			t.Fatalf("%v: slab copy %v, want %v", k.m.Kind, k.got, want)
		}
	}
	var nilSlab *Slab
	if got := nilSlab.String([]byte("x")); got != "x" {
		t.Errorf("nil slab String = %q", got)
	}
	if got := nilSlab.Bytes([]byte("y")); string(got) != "y" {
		t.Errorf("nil slab Bytes = %q", got)
	}
}

// The slab boxes values for the Spanner client without an allocation per
// value, and a boxed value is what the compiler's own boxing gives.
func TestSlabBoxing(t *testing.T) {
	slab := &Slab{}
	ts := time.Date(2024, 2, 29, 13, 45, 10, 123456000, time.UTC)
	d := civil.Date{Year: 1999, Month: 12, Day: 31}
	var kept []any
	for i := 0; i < 3*boxesPer; i++ {
		kept = append(kept, slab.AnyString(fmt.Sprint("s", i)), slab.AnyNumeric(Numeric(fmt.Sprint(i, ".5"))),
			slab.AnyTime(ts.Add(time.Duration(i))), slab.AnyDate(d.AddDays(i)), slab.AnyBytes([]byte{byte(i)}))
		if i%100 == 0 {
			runtime.GC()
		}
	}
	for i := 0; i < 3*boxesPer; i++ {
		want := []any{fmt.Sprint("s", i), Numeric(fmt.Sprint(i, ".5")), ts.Add(time.Duration(i)), d.AddDays(i), []byte{byte(i)}}
		if got := kept[5*i : 5*i+5]; !reflect.DeepEqual(got, want) {
			t.Fatalf("value %d: boxed %#v, want %#v", i, got, want)
		}
	}
	if s, ok := kept[0].(string); !ok || s != "s0" {
		t.Fatalf("type switch on a boxed string: %q, %v", s, ok)
	}
	s := "a string"
	if n := testing.AllocsPerRun(1000, func() { _ = slab.AnyString(s); _ = slab.AnyTime(ts) }); n > 0.05 {
		t.Errorf("boxing allocates %.2f times per value pair, want one allocation per %d values", n, boxesPer)
	}
	var nilSlab *Slab
	if got := nilSlab.AnyString("x"); got != "x" {
		t.Errorf("nil slab AnyString = %v", got)
	}
}
