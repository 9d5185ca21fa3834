package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"cloud.google.com/go/spanner"
	"cloud.google.com/go/spanner/apiv1/spannerpb"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/transforms"
)

// loadZoo creates the type zoo (testdata/typezoo) in a fresh env and writes
// its spec.
func loadZoo(t *testing.T) (*testenv.Env, string) { return loadFixture(t, "typezoo") }

// loadFixture creates testdata/<dir> (schema.sql, data.sql) in a fresh env
// and writes its spec from tables.yaml.
func loadFixture(t *testing.T, dir string) (*testenv.Env, string) {
	t.Helper()
	e := testenv.New(t)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(e.Root, "testdata", dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	e.Exec(t, read("schema.sql"), read("data.sql"))
	return e, e.SpecYAML(t, read("tables.yaml"))
}

// zooExpected is the exact Spanner value of every cell of the copied rows,
// per the mapping table (schema/MAPPING.md), rendered by spannerCell:
// BYTES as 0x-hex, ARRAY as a JSON list, floats in shortest form, NULL as
// NULL, everything else as Spanner's own wire text.
var zooExpected = map[int64]map[string]string{
	1: {"id": "1", "t_bool": "false", "t_boolean": "false", "t_tiny": "-128", "t_tiny_u": "0", "t_small": "-32768", "t_small_u": "0",
		"t_med": "-8388608", "t_med_u": "0", "t_int": "-2147483648", "t_int_u": "0", "t_big": "-9223372036854775808", "t_big_u": "0",
		"t_dec": "-99999999999999999999999999999.999999999", "t_dec_small": "-99999999.99",
		"t_dec_wide": "-99999999999999999999999999999999999.999999999999999999999999999999",
		"t_dec_num":  "-12345678901234567890123456789.123456789", "t_float": "-3.4028235e+38", "t_double": "-1.7976931348623157e+308",
		"t_bit1": "false", "t_bit5": "0x00", "t_bit64": "0x0000000000000000",
		"t_char": "", "t_varchar": "", "t_latin1": "", "t_tinytext": "", "t_text": "", "t_mediumtext": "", "t_longtext": "",
		"t_enum": "", "t_set": "[]", "t_json": "[]",
		"t_binary": "0x00000000", "t_varbinary": "0x", "t_tinyblob": "0x00", "t_blob": "0x00", "t_mediumblob": "0x00", "t_longblob": "0x00",
		"t_blobtext": "", "t_date": "0001-01-01", "t_datetime": "0001-01-01T00:00:00Z", "t_timestamp": "1970-01-01T00:00:01Z",
		"t_ts_null": "1970-01-01T00:00:01Z", "t_time": "-838:59:59", "t_time6": "-838:59:59.000000", "t_year": "1901",
		"t_geom": "POINT(0 0)", "t_point": "POINT(-180 -90)", "t_gen": "-65536", "t_enum_mixed": "Red", "t_set_mixed": "[]"},
	2: {"id": "2", "t_bool": "true", "t_boolean": "true", "t_tiny": "127", "t_tiny_u": "255", "t_small": "32767", "t_small_u": "65535",
		"t_med": "8388607", "t_med_u": "16777215", "t_int": "2147483647", "t_int_u": "4294967295", "t_big": "9223372036854775807",
		"t_big_u": "18446744073709551615", "t_dec": "99999999999999999999999999999.999999999", "t_dec_small": "99999999.99",
		"t_dec_wide": "99999999999999999999999999999999999.999999999999999999999999999999",
		"t_dec_num":  "99999999999999999999999999999.999999999", "t_float": "3.4028235e+38", "t_double": "1.7976931348623157e+308",
		"t_bit1": "true", "t_bit5": "0x1f", "t_bit64": "0xffffffffffffffff",
		"t_char": "ZZZZZZZZZZ", "t_varchar": strings.Repeat("é", 255), "t_latin1": strings.Repeat("ÿ", 20), "t_tinytext": strings.Repeat("t", 255),
		"t_text": "text", "t_mediumtext": "mediumtext", "t_longtext": "longtext", "t_enum": "large", "t_set": `["","a","b","c"]`,
		"t_json":   `{"a":{"esc":"tab\there","nested":"ünïcødé 😀"},"b":[1,2.5,true,null,-9223372036854775808,18446744073709551615]}`,
		"t_binary": "0xffffffff", "t_varbinary": "0x00ff00ff00ff00ff00ff00ff00ff00ff", "t_tinyblob": "0xff00", "t_blob": "0x00ff00",
		"t_mediumblob": "0x000000", "t_longblob": "0x0000000000", "t_blobtext": "max",
		"t_date": "9999-12-31", "t_datetime": "9999-12-31T23:59:59.999999Z", "t_timestamp": "2038-01-19T03:14:07.999999Z",
		"t_ts_null": "2038-01-19T03:14:07Z", "t_time": "838:59:59", "t_time6": "838:59:59.000000", "t_year": "2155",
		"t_geom": "POLYGON((0 0,10 0,10 10,0 10,0 0))", "t_point": "POINT(180 90)", "t_gen": "65534",
		// MySQL trimmed the member 'trail  ' to 'trail' when the column was defined.
		"t_enum_mixed": "trail", "t_set_mixed": `["Red","Dark Blue","Green","Ünï","it's","back\\slash","trail","😀x"]`},
	3: nullRow(3, nil),
	4: nullRow(4, map[string]string{"t_bool": "true", "t_tiny": "0", "t_small": "21", "t_int_u": "1", "t_big_u": "9223372036854775808",
		"t_dec": "0.000000001", "t_dec_small": "0.01", "t_dec_wide": "0.000000000000000000000000000001", "t_dec_num": "1.5",
		"t_float": "1.1754944e-38", "t_double": "2.2250738585072014e-308", "t_bit1": "true", "t_bit5": "0x15", "t_bit64": "0x0000000000000001",
		"t_char": "a", "t_varchar": "emoji 😀👍🏽 and 中文", "t_latin1": "café crème àéîõü", "t_text": "snowman ☃ and 𝄞",
		"t_longtext": "line1\nline2\ttab", "t_enum": "", "t_set": `[""]`, "t_json": `"just a string ✓"`,
		"t_binary": "0x61000000", "t_varbinary": "0x00", "t_blob": "0x0000ff0000", "t_blobtext": "plain text ✓",
		"t_date": "2024-02-29", "t_datetime": "2024-02-29T12:34:56.123456Z", "t_timestamp": "2000-01-01T00:00:00.000001Z",
		"t_time": "00:00:00", "t_time6": "-00:00:00.500000", "t_year": "0",
		"t_geom": "LINESTRING(0 0,1 1,2 1.5)", "t_point": "POINT(1.5 -2.25)", "t_gen": "42",
		"t_enum_mixed": "😀 emoji", "t_set_mixed": `["Dark Blue","back\\slash","😀x"]`}),
	// Row 17's zero TIMESTAMP is nulled (on_invalid: null), the row kept.
	17: nullRow(17, map[string]string{"t_int": "17"}),
}

var zooColumns = []string{"id", "t_bool", "t_boolean", "t_tiny", "t_tiny_u", "t_small", "t_small_u", "t_med", "t_med_u", "t_int", "t_int_u",
	"t_big", "t_big_u", "t_dec", "t_dec_small", "t_dec_wide", "t_dec_num", "t_float", "t_double", "t_bit1", "t_bit5", "t_bit64",
	"t_char", "t_varchar", "t_latin1", "t_tinytext", "t_text", "t_mediumtext", "t_longtext", "t_enum", "t_set", "t_json",
	"t_binary", "t_varbinary", "t_tinyblob", "t_blob", "t_mediumblob", "t_longblob", "t_blobtext",
	"t_date", "t_datetime", "t_timestamp", "t_ts_null", "t_time", "t_time6", "t_year", "t_geom", "t_point", "t_gen",
	"t_enum_mixed", "t_set_mixed"}

func nullRow(id int64, set map[string]string) map[string]string {
	r := map[string]string{}
	for _, c := range zooColumns {
		r[c] = "NULL"
	}
	r["id"] = strconv.FormatInt(id, 10)
	for k, v := range set {
		r[k] = v
	}
	return r
}

// zooDeadLetters are the rows that must be dead-lettered, exactly.
var zooDeadLetters = []transforms.DeadLetter{
	{Table: "typezoo", Key: "(10)", Column: "t_date", Reason: "zero date (year, month or day is 0) has no Spanner equivalent"},
	{Table: "typezoo", Key: "(11)", Column: "t_datetime", Reason: "zero date (year, month or day is 0) has no Spanner equivalent"},
	{Table: "typezoo", Key: "(12)", Column: "t_blobtext", Reason: "invalid UTF-8 in text column"},
	{Table: "typezoo", Key: "(13)", Column: "t_dec_num", Reason: "DECIMAL has 29 significant fraction digits; Spanner NUMERIC holds 9 and would round it"},
	{Table: "typezoo", Key: "(14)", Column: "t_longblob", Reason: "value of 10485761 bytes exceeds Spanner's 10 MiB cell limit"},
	{Table: "typezoo", Key: "(15)", Column: "t_json", Reason: "JSON number cannot be stored exactly by Spanner (not an int64, uint64 or round-trip double)"},
	{Table: "typezoo", Key: "(16)", Column: "t_bool", Reason: "TINYINT(1) value 2 is not a boolean (0 or 1); override the column to INT64"},
	{Table: "typezoo", Key: "(18)", Column: "t_json", Reason: "JSON object has a duplicate key (Spanner would keep only the first)"},
}

// TestTypeZooBackfill creates the target with `plan --apply`, backfills the
// type zoo through the CLI on Prism, and checks the exact Spanner value of
// every cell, the exact dead letters, the counters, and that the deferred
// foreign keys apply after the backfill.
func TestTypeZooBackfill(t *testing.T) {
	e, specPath := loadZoo(t)
	out, errOut, code := runCLI(t, nil, "plan", "--spec", specPath, "--apply")
	if code != 0 {
		t.Fatalf("plan --apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "1 foreign keys deferred") {
		t.Fatalf("plan --apply should defer the foreign key:\n%s", errOut)
	}
	dir := t.TempDir()
	dl := filepath.Join(dir, "dead-letters")
	report := filepath.Join(dir, "report.json")
	out, errOut, code = runCLI(t, nil, "backfill", "--spec", specPath, "--dead-letter", dl, "--report-json", report)
	if code != 0 {
		t.Fatalf("backfill: exit %d\n%s\n%s", code, out, errOut)
	}

	// Counters reconcile: read = written + dead-lettered (+ existing).
	rep := readReport(t, report)
	want := map[string][4]int64{"typezoo": {13, 5, 8, 1}, "zoo_child": {3, 3, 0, 0}, "zoo_parent": {2, 2, 0, 0}}
	for _, tr := range rep.Tables {
		w := want[tr.Source]
		if got := [4]int64{tr.RowsRead, tr.RowsWritten, tr.RowsDead, tr.CellsNulled}; got != w || !tr.Reconciled || !tr.CountsEqual {
			t.Errorf("%s: read/written/dead/nulled = %v, want %v (reconciled %v, counts equal %v)", tr.Source, got, w, tr.Reconciled, tr.CountsEqual)
		}
	}
	if len(rep.Tables) != 3 {
		t.Fatalf("report has %d tables", len(rep.Tables))
	}

	// The dead letters, exactly: one file per chunk that had any.
	files, _ := filepath.Glob(filepath.Join(dl, "*.jsonl"))
	var got []transforms.DeadLetter
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if line == "" {
				continue
			}
			var d transforms.DeadLetter
			if err := json.Unmarshal([]byte(line), &d); err != nil {
				t.Fatalf("dead letter %q: %v", line, err)
			}
			d.Chunk = 0
			got = append(got, d)
		}
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Key < got[j].Key })
	if len(got) != len(zooDeadLetters) {
		t.Fatalf("got %d dead letters, want %d: %+v", len(got), len(zooDeadLetters), got)
	}
	for i := range got {
		if got[i] != zooDeadLetters[i] {
			t.Errorf("dead letter %d:\n got %+v\nwant %+v", i, got[i], zooDeadLetters[i])
		}
	}

	// Every cell of every copied row.
	ctx := testenv.Context(t)
	client, err := spanner.NewClient(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	it := client.Single().Query(ctx, spanner.Statement{SQL: "SELECT " + strings.Join(zooColumns, ", ") + " FROM typezoo ORDER BY id"})
	defer it.Stop()
	seen := 0
	for {
		r, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var id int64
		if err := r.Column(0, &id); err != nil {
			t.Fatal(err)
		}
		exp, ok := zooExpected[id]
		if !ok {
			t.Errorf("row %d should not be in Spanner", id)
			continue
		}
		seen++
		for i, col := range zooColumns {
			var g spanner.GenericColumnValue
			if err := r.Column(i, &g); err != nil {
				t.Fatal(err)
			}
			if v := spannerCell(g.Type, g.Value); v != exp[col] {
				t.Errorf("row %d %s = %q, want %q", id, col, v, exp[col])
			}
		}
	}
	if seen != len(zooExpected) {
		t.Fatalf("saw %d rows, want %d", seen, len(zooExpected))
	}

	// The deferred foreign key applies once the rows are in.
	if out, errOut, code := runCLI(t, nil, "plan", "--spec", specPath, "--apply", "--foreign-keys=only"); code != 0 || !strings.Contains(errOut, "applied 1 DDL") {
		t.Fatalf("plan --apply --foreign-keys=only: exit %d\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, nil, "plan", "--spec", specPath, "--apply", "--foreign-keys=only"); code != 0 || !strings.Contains(errOut, "applied 0 DDL") {
		t.Fatalf("second --foreign-keys=only apply must be a no-op: exit %d\n%s\n%s", code, out, errOut)
	}

	// verify is never falsely red on any type of the zoo: every copied row
	// compares equal after the mapping, dead-lettered rows are counted, not
	// reported.
	vrep, _ := verifyRun(t, specPath, 0)
	for _, tb := range vrep.Tables {
		w := want[tb.Table]
		if tb.SourceRows != w[1] || tb.TargetKeys != w[1] || tb.DeadLettered != w[2] || tb.Drift() != 0 || tb.Unsettled != 0 {
			t.Errorf("verify %s: %d rows compared, %d Spanner keys, %d dead-lettered, drift %d %v; want %d, %d, %d and none",
				tb.Table, tb.SourceRows, tb.TargetKeys, tb.DeadLettered, tb.Drift(), tb.Diffs, w[1], w[1], w[2])
		}
	}
}

// spannerCell renders a Spanner value canonically for comparison.
func spannerCell(t *spannerpb.Type, v *structpb.Value) string {
	if _, ok := v.Kind.(*structpb.Value_NullValue); ok {
		return "NULL"
	}
	switch t.Code {
	case spannerpb.TypeCode_BYTES:
		b, _ := base64.StdEncoding.DecodeString(v.GetStringValue())
		return "0x" + hex.EncodeToString(b)
	case spannerpb.TypeCode_FLOAT32, spannerpb.TypeCode_FLOAT64:
		if _, ok := v.Kind.(*structpb.Value_StringValue); ok {
			return v.GetStringValue() // NaN, Infinity
		}
		if t.Code == spannerpb.TypeCode_FLOAT32 {
			return strconv.FormatFloat(float64(float32(v.GetNumberValue())), 'g', -1, 32)
		}
		return strconv.FormatFloat(v.GetNumberValue(), 'g', -1, 64)
	case spannerpb.TypeCode_BOOL:
		return strconv.FormatBool(v.GetBoolValue())
	case spannerpb.TypeCode_ARRAY:
		out := []string{}
		for _, e := range v.GetListValue().Values {
			out = append(out, spannerCell(t.ArrayElementType, e))
		}
		b, _ := json.Marshal(out)
		return string(b)
	}
	return v.GetStringValue()
}
