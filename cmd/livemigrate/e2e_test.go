package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/spanner"
	"google.golang.org/api/iterator"

	"github.com/livemigrate/livemigrate/internal/testenv"
)

// readReport reads a --report-json file.
func readReport(t *testing.T, path string) Report {
	t.Helper()
	var rep Report
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// runCLI runs the livemigrate binary and returns stdout, stderr and the
// exit code.
func runCLI(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	return runIn(t, "", env, args...)
}

const wideTable = `CREATE TABLE wide (
  id BIGINT NOT NULL PRIMARY KEY,
  i INT NOT NULL,
  u BIGINT UNSIGNED NOT NULL,
  name VARCHAR(64) NOT NULL,
  price DECIMAL(12,2),
  at DATETIME(6) NOT NULL,
  ts TIMESTAMP(6) NULL,
  flag TINYINT(1) NOT NULL,
  d DATE NULL,
  body TEXT,
  bin VARBINARY(16),
  f DOUBLE,
  e ENUM('small','medium','large') NOT NULL,
  j JSON,
  KEY by_name (name)
) CHARACTER SET utf8mb4`

// Values derive from seq so every column varies, with NULLs, unicode,
// extremes and bytes 0x00 sprinkled in.
const wideRows = `INSERT INTO wide
SELECT seq,
  IF(seq % 97 = 0, -2147483648, CAST(seq AS SIGNED) * 7 - 350000),
  IF(seq % 89 = 0, 18446744073709551615, seq * 1000003),
  CONCAT(ELT(1 + seq % 5, 'Zoë', 'Łukasz', '李', 'emoji 🚀', 'plain'), '-', seq),
  IF(seq % 11 = 0, NULL, (seq % 100000) * 1.37 - 500),
  TIMESTAMP('2001-02-03 04:05:06.123456') + INTERVAL seq * 37 SECOND + INTERVAL seq MICROSECOND,
  IF(seq % 13 = 0, NULL, TIMESTAMP('2015-06-01 00:00:00') + INTERVAL seq MINUTE),
  seq % 2,
  IF(seq % 7 = 0, NULL, DATE('1970-01-01') + INTERVAL seq DAY),
  IF(seq % 17 = 0, NULL, REPEAT(CONCAT('line ', seq, ' ½\n'), seq % 9)),
  IF(seq % 19 = 0, NULL, UNHEX(CONCAT('00', LPAD(HEX(seq), 8, '0'), 'FF'))),
  IF(seq % 23 = 0, NULL, seq / 7.0e3),
  ELT(1 + seq % 3, 'small', 'medium', 'large'),
  IF(seq % 29 = 0, NULL, JSON_OBJECT('n', seq, 'tags', JSON_ARRAY('a', 'ü'), 'nested', JSON_OBJECT('ok', seq % 2 = 0)))
FROM seq_1_to_{N}`

// TestBackfillEveryValue backfills a 100,000-row table through the CLI on
// Prism and compares every row's every value in Spanner with MySQL, each
// side rendered to text by its own database (not by our converter).
func TestBackfillEveryValue(t *testing.T) {
	const wideN = 100000
	e := testenv.New(t)
	e.Exec(t, wideTable, strings.Replace(wideRows, "{N}", fmt.Sprint(wideN), 1))
	specPath := e.SpecYAML(t, "  - source: wide\n    target: Wide\n")
	if out, errOut, code := runCLI(t, nil, "plan", "--spec", specPath, "--apply"); code != 0 {
		t.Fatalf("plan --apply: exit %d\n%s\n%s", code, out, errOut)
	}
	report := filepath.Join(t.TempDir(), "report.json")
	out, errOut, code := runCLI(t, nil, "backfill", "--spec", specPath, "--report-json", report,
		"--dead-letter", filepath.Join(t.TempDir(), "dead-letters"))
	if code != 0 {
		t.Fatalf("backfill: exit %d\n%s\n%s", code, out, errOut)
	}
	rep := readReport(t, report)
	if len(rep.Tables) != 1 || rep.Tables[0].RowsRead != wideN || rep.Tables[0].RowsWritten != wideN ||
		rep.Tables[0].SourceRows != wideN || rep.Tables[0].TargetRows != wideN || !rep.Tables[0].CountsEqual {
		t.Fatalf("report: %+v", rep.Tables)
	}
	if !strings.Contains(out, "Wide") || !strings.Contains(out, fmt.Sprint(wideN)) {
		t.Fatalf("summary table missing counts:\n%s", out)
	}

	ctx := testenv.Context(t)
	mysqlRows, err := e.MySQL.QueryContext(ctx, `SELECT id, i, CAST(u AS CHAR), name, CAST(price AS CHAR),
		DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s.%f'), DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), flag = 1,
		DATE_FORMAT(d, '%Y-%m-%d'), body, HEX(bin), f, e, j FROM wide ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer mysqlRows.Close()
	client, err := spanner.NewClient(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	// A streaming read in key order: one ORDER BY over 100k rows can exhaust
	// the emulator's query memory when other tests run beside this one.
	it := client.Single().Read(ctx, "Wide", spanner.AllKeys(),
		[]string{"id", "i", "u", "name", "price", "at", "ts", "flag", "d", "body", "bin", "f", "e", "j"})
	defer it.Stop()
	n := 0
	for mysqlRows.Next() {
		var m [14]sql.NullString
		var id, i int64
		var flag bool
		var f sql.NullFloat64
		if err := mysqlRows.Scan(&id, &i, &m[2], &m[3], &m[4], &m[5], &m[6], &flag, &m[8], &m[9], &m[10], &f, &m[12], &m[13]); err != nil {
			t.Fatal(err)
		}
		r, err := it.Next()
		if err != nil {
			t.Fatalf("Spanner has fewer rows than MySQL (at id %d): %v", id, err)
		}
		var s [14]spanner.NullString
		var sid, si int64
		var sflag bool
		var sf spanner.NullFloat64
		var su, sprice spanner.NullNumeric
		var sat, sts spanner.NullTime
		var sd spanner.NullDate
		var sbin []byte
		var sj spanner.NullJSON
		if err := r.Columns(&sid, &si, &su, &s[3], &sprice, &sat, &sts, &sflag, &sd, &s[9], &sbin, &sf, &s[12], &sj); err != nil {
			t.Fatal(err)
		}
		// Render Spanner's typed values the way the MySQL query renders its own.
		if su.Valid {
			s[2] = spanner.NullString{StringVal: su.Numeric.RatString(), Valid: true}
		}
		if sprice.Valid {
			s[4] = spanner.NullString{StringVal: sprice.Numeric.FloatString(9), Valid: true}
		}
		for k, v := range map[int]spanner.NullTime{5: sat, 6: sts} {
			if v.Valid {
				s[k] = spanner.NullString{StringVal: v.Time.UTC().Format("2006-01-02 15:04:05.000000"), Valid: true}
			}
		}
		if sd.Valid {
			s[8] = spanner.NullString{StringVal: sd.Date.String(), Valid: true}
		}
		if sbin != nil {
			s[10] = spanner.NullString{StringVal: hex.EncodeToString(sbin), Valid: true}
		}
		if sj.Valid {
			b, err := json.Marshal(sj.Value)
			if err != nil {
				t.Fatal(err)
			}
			s[13] = spanner.NullString{StringVal: string(b), Valid: true}
		}
		diff := func(col string, a, b any) {
			t.Errorf("id %d column %s: MySQL %v, Spanner %v", id, col, a, b)
		}
		if sid != id {
			t.Fatalf("row order diverged: MySQL id %d, Spanner id %d", id, sid)
		}
		if si != i {
			diff("i", i, si)
		}
		if sflag != flag {
			diff("flag", flag, sflag)
		}
		if f.Valid != sf.Valid || f.Float64 != sf.Float64 {
			diff("f", f, sf)
		}
		for k, name := range map[int]string{2: "u", 3: "name", 4: "price", 5: "at", 6: "ts", 8: "d", 9: "body", 10: "bin", 12: "e", 13: "j"} {
			a, b := m[k], s[k]
			if a.Valid != b.Valid {
				diff(name, a, b)
				continue
			}
			if !a.Valid {
				continue
			}
			av, bv := a.String, b.StringVal
			switch name {
			case "price":
				av, bv = normDecimal(av), normDecimal(bv)
			case "bin":
				bv = strings.ToUpper(bv)
			case "j":
				av, bv = normJSON(t, av), normJSON(t, bv)
			}
			if av != bv {
				diff(name, av, bv)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		n++
	}
	if err := mysqlRows.Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := it.Next(); err != iterator.Done {
		t.Fatalf("Spanner has more rows than MySQL: %v", err)
	}
	if n != wideN {
		t.Fatalf("compared %d rows", n)
	}
}

func normDecimal(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

func normJSON(t *testing.T, s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestBadInput: each kind of operator mistake is one line on stderr and
// exit code 2, never a stack trace.
func TestBadInput(t *testing.T) {
	e := testenv.New(t)
	e.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))", "CREATE TABLE en (k ENUM('b','a') PRIMARY KEY)")
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := e.SpecYAML(t, "  - source: t\n")
	goodBody, _ := os.ReadFile(good)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown spec key", []string{"backfill", "--spec", write("unknown.yaml", string(goodBody)+"    colour: blue\n")}, `unknown key "colour"`},
		{"missing table", []string{"backfill", "--spec", write("missing.yaml", strings.Replace(string(goodBody), "source: t\n", "source: nosuch\n", 1))}, `table "nosuch" not found`},
		{"unreachable MySQL", []string{"backfill", "--spec", write("unreach.yaml", strings.Replace(string(goodBody), e.MySQLAddr, "127.0.0.1:1", 1))}, "cannot connect to MySQL at 127.0.0.1:1"},
		{"wrong Spanner database", []string{"backfill", "--spec", write("wrongdb.yaml", strings.Replace(string(goodBody), e.SpannerDB, e.SpannerDB+"x", 1))}, "Spanner database projects/"},
		{"unchunkable key", []string{"backfill", "--spec", write("enum.yaml", strings.Replace(string(goodBody), "source: t\n", "source: en\n", 1))}, "cannot be chunked"},
		{"missing spec file", []string{"backfill", "--spec", filepath.Join(dir, "nope.yaml")}, "cannot read spec"},
		{"no spec flag", []string{"backfill"}, "--spec is required"},
		{"unknown flag", []string{"backfill", "--colour"}, "unknown flag"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"negative flag", []string{"backfill", "--spec", good, "--batch-mutations", "-5"}, "--batch-mutations is -5; it must be a positive number"},
		{"flag above Spanner's limit", []string{"backfill", "--spec", good, "--batch-mutations", "90000"}, "--batch-mutations is 90000; the maximum is 80000"},
		{"negative max_connections", []string{"backfill", "--spec", write("conns.yaml", strings.Replace(string(goodBody), "target:\n", "  max_connections: -3\ntarget:\n", 1))},
			"source.max_connections is -3; it must be a positive number"},
		{"negative target_rows", []string{"backfill", "--spec", write("rows.yaml", string(goodBody)+"    chunking: {target_rows: -10}\n")},
			"tables[t].chunking.target_rows is -10; it must be a positive number"},
		{"zero page_rows in defaults", []string{"plan", "--spec", write("page.yaml", string(goodBody)+"defaults:\n  chunking: {page_rows: 0}\n")},
			"defaults.chunking.page_rows is 0"},
		{"verify: negative settle", []string{"verify", "--spec", good, "--settle", "-1s"}, "--settle is -1s"},
		{"verify: --since that is no version", []string{"verify", "--spec", write("since.yaml", string(goodBody)+"    version_column: id\n"), "--since", "yesterday"},
			`--since "yesterday": the version column id of t is int(11); give an integer`},
		{"verify: no engine tables", []string{"verify", "--spec", good}, "create what is missing with `livemigrate plan --spec"},
		{"verify: history without spec", []string{"verify", "--history"}, "--spec is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, nil, c.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, c.want) {
				t.Fatalf("last stderr line %q does not contain %q\nfull stderr:\n%s", last, c.want, errOut)
			}
			if strings.Contains(errOut, "goroutine ") || strings.Contains(errOut, "panic") {
				t.Fatalf("stack trace on bad input:\n%s", errOut)
			}
		})
	}
}

// TestPasswordNeverLeaks runs a real backfill and verify and their Dataflow
// dry runs with a distinctive password and looks for it, plain and base64-encoded at every
// alignment, in everything the process printed — which for the dry run
// includes the complete pipeline proto and its options. A positive control
// proves the search sees through the encoding.
func TestPasswordNeverLeaks(t *testing.T) {
	e := testenv.New(t)
	// The stack's password is random; the canary is the real thing.
	pw := e.Password(t)
	if len(pw) < 12 {
		t.Fatalf("stack password too short to be a distinctive canary")
	}
	e.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))", "INSERT INTO t SELECT seq, 'x' FROM seq_1_to_100")
	body := fmt.Sprintf("source:\n  dsn: %s@tcp(%s)/%s\n  password_env: LM_CANARY_PW\ntarget:\n  database: %s\ntables:\n  - source: t\n    target: CanaryMarkerTable\n",
		e.MySQLUser, e.MySQLAddr, e.Name, e.SpannerDB)
	specPath := filepath.Join(t.TempDir(), "spec.yaml")
	os.WriteFile(specPath, []byte(body), 0o644)
	env := []string{"LM_CANARY_PW=" + pw}
	var seen strings.Builder
	for _, args := range [][]string{
		{"plan", "--spec", specPath, "--apply"},
		{"backfill", "--spec", specPath, "--dead-letter", filepath.Join(t.TempDir(), "dl.jsonl")},
		{"backfill", "--spec", specPath, "--runner", "dataflow", "--dry_run", "--project", "p", "--region", "us-central1",
			"--staging_location", "gs://bucket/staging", "--worker_binary", testenv.Binary(t), "--dead-letter", "gs://bucket/dead-letters"},
		{"verify", "--spec", specPath, "--settle", "100ms"},
		{"verify", "--spec", specPath, "--runner", "dataflow", "--dry_run", "--project", "p", "--region", "us-central1",
			"--staging_location", "gs://bucket/staging", "--worker_binary", testenv.Binary(t)},
	} {
		out, errOut, code := runCLI(t, env, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, errOut)
		}
		seen.WriteString(out + errOut)
	}
	all := seen.String()
	if strings.Count(all, "Dry-run") < 2 {
		t.Fatalf("the dry runs (backfill and verify) did not print their jobs")
	}
	// Positive control: the target table name rides in the DoFn payloads
	// (base64-encoded) of the dry-run job; the search must find it.
	if !containsEncoded(all, "CanaryMarkerTable") {
		t.Fatalf("control failed: the search cannot see the spec inside the printed job")
	}
	if containsEncoded(all, pw) {
		t.Fatalf("the MySQL password appears in the output or pipeline")
	}
}

// containsEncoded finds s in text plainly or base64-encoded at any offset.
func containsEncoded(text, s string) bool {
	if strings.Contains(text, s) {
		return true
	}
	for pad := 0; pad < 3; pad++ {
		enc := base64.StdEncoding.EncodeToString(append(bytes.Repeat([]byte{0}, pad), s...))
		// Drop the characters influenced by the padding and by what follows.
		start := (pad*8 + 5) / 6
		core := enc[start : len(enc)-4]
		if len(core) > 8 && (strings.Contains(text, core) || strings.Contains(text, strings.NewReplacer("+", "-", "/", "_").Replace(core))) {
			return true
		}
	}
	return false
}

var _ = context.Background
