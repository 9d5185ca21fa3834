package schema

import (
	"bytes"
	"math/rand"
	"reflect"
	"testing"
	"time"
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
