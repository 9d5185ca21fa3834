package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"
)

func mustMap(t *testing.T, c Column, o Options) *Mapping {
	t.Helper()
	m, err := Map(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return &m
}

// TestConvertValues: driver value in, Spanner Go value (or bad-value
// reason) out, for every kind.
func TestConvertValues(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	set := mustMap(t, col("set", "set('','a','b')"), Options{})
	mixedSet := mustMap(t, col("set", "set('Red','Dark Blue','Green','?x')"), Options{})
	emptyMid := mustMap(t, col("set", "set('a','','B')"), Options{})
	cases := []struct {
		name string
		m    *Mapping
		in   any
		loc  *time.Location
		want any
		bad  string
	}{
		{"null", set, nil, nil, nil, ""},
		{"bool 1", mustMap(t, col("tinyint", "tinyint(1)"), Options{}), int64(1), nil, true, ""},
		{"bool 2", mustMap(t, col("tinyint", "tinyint(1)"), Options{}), int64(2), nil, nil, "not a boolean"},
		{"int64 min", mustMap(t, col("bigint", "bigint(20)"), Options{}), int64(math.MinInt64), nil, int64(math.MinInt64), ""},
		{"uint64 max", mustMap(t, col("bigint", "bigint(20) unsigned"), Options{}), []byte("18446744073709551615"), nil, ratOf("18446744073709551615"), ""},
		{"uint64 as string", mustMap(t, col("bigint", "bigint(20) unsigned"), Options{UnsignedBigintAsString: true}), []byte("18446744073709551615"), nil, "18446744073709551615", ""},
		{"uint64 as INT64 overflow", mustMap(t, col("bigint", "bigint(20) unsigned"), Options{Override: "INT64"}), []byte("9223372036854775808"), nil, nil, "out of INT64 range"},
		{"decimal wide string", mustMap(t, col("decimal", "decimal(65,30)", withPS(65, 30)), Options{}), []byte("-1.500000000000000000000000000000"), nil, "-1.500000000000000000000000000000", ""},
		{"decimal override too many digits", mustMap(t, col("decimal", "decimal(65,30)", withPS(65, 30)), Options{Override: "NUMERIC"}), []byte("123456789012345678901234567890.0"), nil, nil, "30 integer digits"},
		{"float32", mustMap(t, col("float", "float"), Options{}), float32(math.MaxFloat32), nil, float32(math.MaxFloat32), ""},
		{"bit1", mustMap(t, col("bit", "bit(1)"), Options{}), []byte{1}, nil, true, ""},
		{"bit64 bytes", mustMap(t, col("bit", "bit(64)"), Options{}), []byte{0xff, 0, 0, 0, 0, 0, 0, 1}, nil, []byte{0xff, 0, 0, 0, 0, 0, 0, 1}, ""},
		{"bit64 int64 fits", mustMap(t, col("bit", "bit(64)"), Options{BitAsInt64: true}), []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, nil, int64(math.MaxInt64), ""},
		{"bit64 int64 overflow", mustMap(t, col("bit", "bit(64)"), Options{BitAsInt64: true}), []byte{0x80, 0, 0, 0, 0, 0, 0, 0}, nil, nil, "does not fit INT64"},
		{"string too long", mustMap(t, col("varchar", "varchar(3)", withLen(3)), Options{}), []byte("ééé€"), nil, nil, "exceeds STRING(3)"},
		{"string chars not bytes", mustMap(t, col("varchar", "varchar(3)", withLen(3)), Options{}), []byte("ééé"), nil, "ééé", ""},
		{"invalid utf8 blob-as-text", mustMap(t, col("varbinary", "varbinary(9)", withLen(9)), Options{Override: "STRING(MAX)"}), []byte{0xc3, 0x28}, nil, nil, "invalid UTF-8"},
		{"set empty", set, []byte("0,"), nil, []string{}, ""},
		{"set empty member", set, []byte("1,"), nil, []string{""}, ""},
		{"set all", set, []byte("7,a,b"), nil, []string{"", "a", "b"}, ""},
		{"set beyond members", set, []byte("8,"), nil, nil, "beyond the column's 3 members"},
		// Case, spaces and bytes come from MySQL's text of the value, never
		// from the definition text (which MariaDB shows without characters
		// outside the BMP: '?x').
		{"set exact text", mixedSet, []byte("11,Red,Dark Blue,😀x"), nil, []string{"Red", "Dark Blue", "😀x"}, ""},
		{"set empty member after", emptyMid, []byte("3,a,"), nil, []string{"a", ""}, ""},
		{"set empty member first", emptyMid, []byte("6,B"), nil, []string{"", "B"}, ""},
		{"set inner empty", emptyMid, []byte("7,a,,B"), nil, []string{"a", "", "B"}, ""},
		{"set text short", mixedSet, []byte("3,Red"), nil, nil, "fewer members"},
		{"set text long", mixedSet, []byte("1,Red,Green"), nil, nil, "more members"},
		{"set no comma", mixedSet, []byte("1"), nil, nil, "bitmask,text"},
		{"json", mustMap(t, col("json", "json"), Options{}), []byte(`{"a":[1,"ü"]}`), nil, spanner.NullJSON{Value: jsonRaw(`{"a":[1,"ü"]}`), Valid: true}, ""},
		{"json dup", mustMap(t, col("json", "json"), Options{}), []byte(`{"a":1,"b":{"a":2},"a":3}`), nil, nil, "duplicate key"},
		{"blob oversized", mustMap(t, col("longblob", "longblob"), Options{}), make([]byte, MaxCellBytes+1), nil, nil, "10 MiB"},
		{"binary over BYTES(n)", mustMap(t, col("varbinary", "varbinary(2)", withLen(2)), Options{}), []byte{1, 2, 3}, nil, nil, "exceeds BYTES(2)"},
		{"date", mustMap(t, col("date", "date"), Options{}), []byte("2024-02-29"), nil, civil.Date{Year: 2024, Month: 2, Day: 29}, ""},
		{"zero date", mustMap(t, col("date", "date"), Options{}), []byte("0000-00-00"), nil, nil, "zero date"},
		{"zero month", mustMap(t, col("date", "date"), Options{}), []byte("2020-00-15"), nil, nil, "zero date"},
		{"bad calendar date", mustMap(t, col("date", "date"), Options{}), []byte("2023-02-29"), nil, nil, "invalid calendar date"},
		{"datetime utc", mustMap(t, col("datetime", "datetime(6)"), Options{}), []byte("9999-12-31 23:59:59.999999"), time.UTC, time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), ""},
		{"datetime zone", mustMap(t, col("datetime", "datetime(6)"), Options{}), []byte("2024-07-01 12:00:00.000000"), berlin, time.Date(2024, 7, 1, 10, 0, 0, 0, time.UTC), ""},
		{"datetime dst overlap is standard time", mustMap(t, col("datetime", "datetime"), Options{}), []byte("2024-10-27 02:30:00"), berlin, time.Date(2024, 10, 27, 1, 30, 0, 0, time.UTC), ""},
		{"datetime dst gap", mustMap(t, col("datetime", "datetime"), Options{}), []byte("2024-03-31 02:30:00"), berlin, nil, "daylight-saving gap"},
		{"datetime zone overflow", mustMap(t, col("datetime", "datetime"), Options{}), []byte("0001-01-01 00:30:00"), berlin, nil, "outside Spanner's TIMESTAMP range"},
		{"timestamp ignores zone", mustMap(t, col("timestamp", "timestamp(6)"), Options{}), []byte("2038-01-19 03:14:07.999999"), berlin, time.Date(2038, 1, 19, 3, 14, 7, 999999000, time.UTC), ""},
		{"zero timestamp", mustMap(t, col("timestamp", "timestamp"), Options{}), []byte("0000-00-00 00:00:00"), nil, nil, "zero date"},
		{"time negative", mustMap(t, col("time", "time"), Options{}), []byte("-838:59:59"), nil, "-838:59:59", ""},
		{"year", mustMap(t, col("year", "year(4)"), Options{}), int64(2155), nil, int64(2155), ""},
		{"text override of int", mustMap(t, col("int", "int(11)"), Options{Override: "STRING(MAX)"}), int64(-5), nil, "-5", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			loc := c.loc
			if loc == nil {
				loc = time.UTC
			}
			got, b := c.m.Convert(c.in, loc)
			if c.bad != "" {
				if b == nil || !strings.Contains(b.Reason, c.bad) {
					t.Fatalf("got %v, %v; want bad value containing %q", got, b, c.bad)
				}
				return
			}
			if b != nil {
				t.Fatalf("bad value: %s", b.Reason)
			}
			if fmt.Sprintf("%#v", norm(got)) != fmt.Sprintf("%#v", norm(c.want)) {
				t.Fatalf("got %#v, want %#v", got, c.want)
			}
		})
	}
}

func ratOf(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }

func norm(v any) any {
	switch x := v.(type) {
	case *big.Rat:
		return x.RatString()
	case Numeric:
		return x.Rat().RatString()
	case spanner.NullJSON:
		return string(x.Value.(jsonRaw))
	}
	return v
}

// TestConvertDecimalProperty: random DECIMAL(p,s) strings convert to NUMERIC
// exactly when they fit (≤29 integer, ≤9 significant fraction digits) and
// are dead-lettered, never rounded, otherwise.
func TestConvertDecimalProperty(t *testing.T) {
	for _, seed := range []int64{1, 2, 3, 42, 2026} {
		r := rand.New(rand.NewSource(seed))
		m := mustMap(t, col("decimal", "decimal(65,30)", withPS(65, 30)), Options{Override: "NUMERIC"})
		for i := 0; i < 2000; i++ {
			intDigits, fracDigits := r.Intn(36), r.Intn(31)
			s := randDigits(r, intDigits, true)
			if fracDigits > 0 {
				s += "." + randDigits(r, fracDigits, false)
			}
			if r.Intn(2) == 0 {
				s = "-" + s
			}
			got, b := m.Convert([]byte(s), time.UTC)
			want := ratOf(s)
			sig := strings.TrimRight(strings.SplitN(s+".", ".", 3)[1], "0")
			intPart := strings.TrimLeft(strings.TrimPrefix(strings.SplitN(s, ".", 2)[0], "-"), "0")
			fits := len(intPart) <= 29 && len(sig) <= 9
			if fits != (b == nil) {
				t.Fatalf("seed %d: %s fits=%v but bad=%v", seed, s, fits, b)
			}
			if b == nil {
				n := got.(Numeric)
				if n.Rat().Cmp(want) != 0 {
					t.Fatalf("seed %d: %s became %s", seed, s, n)
				}
				// What the Spanner client sends is the same number, in
				// normalised form (no leading or trailing zeros, no "-0").
				enc, _ := n.EncodeSpanner()
				if ratOf(enc.(string)).Cmp(want) != 0 || string(n) != canonicalRat(want) {
					t.Fatalf("seed %d: %s encodes as %v, canonical %s", seed, s, enc, canonicalRat(want))
				}
			}
		}
	}
}

func randDigits(r *rand.Rand, n int, lead bool) string {
	if n == 0 {
		if lead {
			return "0"
		}
		return ""
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.Intn(10))
	}
	return string(b)
}

// TestConvertDatetimeProperty: random DATETIME(6) texts in random zones
// convert to the instant Go's own zone rules give, or are dead-lettered
// exactly when that wall-clock time does not exist or leaves Spanner's range.
func TestConvertDatetimeProperty(t *testing.T) {
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Kiritimati"}
	m := mustMap(t, col("datetime", "datetime(6)"), Options{})
	d := mustMap(t, col("date", "date"), Options{})
	for _, seed := range []int64{7, 8, 9} {
		r := rand.New(rand.NewSource(seed))
		for i := 0; i < 3000; i++ {
			loc, _ := time.LoadLocation(zones[r.Intn(len(zones))])
			y, mo, dd := 1+r.Intn(9999), 1+r.Intn(12), 1+r.Intn(31)
			hh, mi, ss, us := r.Intn(24), r.Intn(60), r.Intn(60), r.Intn(1000000)
			if r.Intn(10) == 0 {
				y = 1 + r.Intn(2)
			}
			if r.Intn(10) == 0 {
				y = 9999
			}
			s := fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d", y, mo, dd, hh, mi, ss, us)
			got, b := m.Convert([]byte(s), loc)
			cd := civil.Date{Year: y, Month: time.Month(mo), Day: dd}
			want := time.Date(y, time.Month(mo), dd, hh, mi, ss, us*1000, loc)
			exists := cd.IsValid() && want.Hour() == hh && want.Minute() == mi
			inRange := !want.UTC().Before(spannerMin) && !want.UTC().After(spannerMax)
			if (exists && inRange) != (b == nil) {
				t.Fatalf("%s in %s: exists=%v inRange=%v bad=%v", s, loc, exists, inRange, b)
			}
			if b == nil && !got.(time.Time).Equal(want) {
				t.Fatalf("%s in %s: got %v want %v", s, loc, got, want.UTC())
			}
			gd, bd := d.Convert([]byte(s[:10]), loc)
			if cd.IsValid() != (bd == nil) || (bd == nil && gd.(civil.Date) != cd) {
				t.Fatalf("DATE %s: got %v %v", s[:10], gd, bd)
			}
		}
	}
}

// TestCheckJSON covers what Spanner would reject or change.
func TestCheckJSON(t *testing.T) {
	deep := strings.Repeat("[", 80) + strings.Repeat("]", 80)
	cases := map[string]string{
		`{"a":1,"b":[1,2,{"a":2}],"c":{"a":3}}`:                           "",
		`[1, -9223372036854775808, 18446744073709551615, 2.5, 1e10, 1.0]`: "",
		`{"a":1,"a":2}`:                    "duplicate key",
		`{"x":{"a":1,"a":2}}`:              "duplicate key",
		`[{"a":1},{"a":2}]`:                "",
		`[18446744073709551616]`:           "cannot be stored exactly",
		`2.2412421353246235436`:            "cannot be stored exactly",
		`1e400`:                            "cannot be stored exactly",
		deep:                               "",
		"[" + deep + "]":                   "nests deeper",
		`{"a":`:                            "invalid JSON",
		"\"\xff\"":                         "not valid UTF-8",
		`{"k":"v","o":{},"l":[],"n":null}`: "",
	}
	for in, want := range cases {
		got := CheckJSON([]byte(in))
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("CheckJSON(%.40s) = %q, want %q", in, got, want)
		}
	}
}

type jsonRaw = json.RawMessage
