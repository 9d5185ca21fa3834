package verify_test

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/copier"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/job"
	"github.com/livemigrate/livemigrate/livewrite"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/target"
	"github.com/livemigrate/livemigrate/verify"
)

// venv is one test's source, target and a finished backfill of them,
// driven through the Beam-free engine.
type venv struct {
	e      *testenv.Env
	j      *job.Job
	client *spanner.Client
	plans  map[string]*schema.TablePlan
}

// newVenv creates the MySQL tables (stmts), loads the spec (tablesYAML),
// creates every Spanner table plan --apply would, and backfills.
func newVenv(t *testing.T, tablesYAML string, stmts ...string) *venv {
	t.Helper()
	return newVenvTZ(t, tablesYAML, "", stmts...)
}

// newVenvTZ is newVenv with the spec's source.time_zone set.
func newVenvTZ(t *testing.T, tablesYAML, zone string, stmts ...string) *venv {
	t.Helper()
	ctx := testenv.Context(t)
	e := testenv.New(t)
	e.Exec(t, stmts...)
	specPath := e.SpecYAML(t, tablesYAML)
	if zone != "" {
		b, err := os.ReadFile(specPath)
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.Replace(string(b), "target:\n", "  time_zone: "+zone+"\ntarget:\n", 1))
		if err := os.WriteFile(specPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	j, err := job.Load(ctx, specPath, job.Options{CheckTarget: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.DB.Close() })
	var ddl []string
	v := &venv{e: e, j: j, plans: map[string]*schema.TablePlan{}}
	for i := range j.Config.Tables {
		p := &j.Config.Tables[i].Plan
		v.plans[p.Source] = p
		ddl = append(append(ddl, p.CreateTableDDL()), p.IndexDDL()...)
	}
	ddl = append(append(append(ddl, livewrite.DDL(j.Plans(), nil)...), checkpoint.DDL), verify.DDL...)
	if err := target.ApplyDDL(ctx, e.SpannerDB, ddl); err != nil {
		t.Fatal(err)
	}
	if v.client, err = target.Client(ctx, e.SpannerDB); err != nil {
		t.Fatal(err)
	}
	eng, err := copier.New(ctx, j.Config, j.DB, v.client)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	for _, p := range j.Plans() {
		res, err := eng.Plan(ctx, p.Source)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Chunks {
			if _, err := eng.Copy(ctx, c, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	return v
}

// run verifies every table with the library, as the pipeline would: the
// chunks of a stored plan (job id), then the ranges cut from it.
func (v *venv) run(t *testing.T, s config.Verify) []verify.Summary {
	t.Helper()
	ctx := testenv.Context(t)
	cfg := v.j.Config
	cfg.ID = "verify-test-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	if s.MaxDiffs == 0 {
		s.MaxDiffs = config.DefaultMaxDiffs
	}
	if s.Now.IsZero() {
		s.Now = time.Now()
	}
	cfg.Verify = &s
	eng, err := copier.New(ctx, cfg, v.j.DB, v.client)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	vf, err := verify.New(eng)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range cfg.Plans() {
		names = append(names, p.Source)
		res, err := eng.Plan(ctx, p.Source)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Chunks {
			r, err := vf.Chunk(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if err := vf.Finish(ctx, &c, r); err != nil {
				t.Fatal(err)
			}
		}
		ranges, err := vf.PlanRanges(ctx, p.Source)
		if err != nil {
			t.Fatal(err)
		}
		for _, rg := range ranges {
			r, err := vf.CheckRange(ctx, rg)
			if err != nil {
				t.Fatal(err)
			}
			if err := vf.Finish(ctx, nil, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	units, err := verify.Units(ctx, v.client, cfg.ID)
	if err != nil {
		t.Fatal(err)
	}
	return verify.Summarize(cfg.ID, names, units)
}

// diffs lists a summary's differences as "kind key [columns]", sorted.
func diffs(s verify.Summary) []string {
	var out []string
	for _, d := range s.Diffs {
		x := d.Kind + " " + d.Key
		if len(d.Columns) > 0 {
			x += " " + strings.Join(d.Columns, ",")
		}
		out = append(out, x)
	}
	sort.Strings(out)
	return out
}

func apply(t *testing.T, c *spanner.Client, ms ...*spanner.Mutation) {
	t.Helper()
	if _, err := c.Apply(context.Background(), ms); err != nil {
		t.Fatal(err)
	}
}

// TestCaseInsensitiveKey is the collation trap: the source key 'abc' under
// utf8mb4_general_ci becomes 'ABC' in Spanner. The source pass must report
// 'abc' missing (it looks up exact keys, never a Spanner range), and the
// extras scan must report 'ABC' extra even though MySQL's IN finds 'abc'
// for it. Small chunks make many ranges whose bounds MySQL and Spanner
// order differently; every Spanner key is still scanned exactly once.
func TestCaseInsensitiveKey(t *testing.T) {
	v := newVenv(t, "  - source: tags\n    chunking: {target_rows: 7, page_rows: 5}\n",
		"CREATE TABLE tags (code VARCHAR(32) COLLATE utf8mb4_general_ci NOT NULL PRIMARY KEY, label VARCHAR(20) NOT NULL)",
		"INSERT INTO tags SELECT CONCAT(ELT(1 + seq % 6, 'a', 'B', 'c', 'D', 'é', 'Z'), seq), CONCAT('l', seq) FROM seq_1_to_60",
		"INSERT INTO tags VALUES ('abc', 'x'), ('b', 'y'), ('Zz', 'z')")
	clean := v.run(t, config.Verify{Rounds: 1, Settle: 10 * time.Millisecond})
	if s := clean[0]; s.Drift() != 0 || s.SourceRows != 63 || s.TargetKeys != 63 || s.TargetUnits < 5 {
		t.Fatalf("clean target: %+v", s)
	}
	// The target's key changes case: Spanner now holds 'ABC' where MySQL
	// holds 'abc'.
	apply(t, v.client, spanner.Delete("tags", spanner.Key{"abc"}),
		spanner.Insert("tags", []string{"code", "label"}, []any{"ABC", "x"}))
	s := v.run(t, config.Verify{Rounds: 1, Settle: 10 * time.Millisecond})[0]
	want := []string{`extra s"ABC"`, `missing s"abc"`}
	if got := diffs(s); strings.Join(got, "|") != strings.Join(want, "|") || s.Missing != 1 || s.Extra != 1 || s.Different != 0 {
		t.Fatalf("differences %v (counts %d/%d/%d), want %v", got, s.Missing, s.Extra, s.Different, want)
	}
	for _, d := range s.Diffs {
		if d.Kind == verify.Extra && !strings.Contains(d.Note, "collation") {
			t.Errorf("the extra key should say the source holds it under the collation: %+v", d)
		}
	}
	if s.TargetKeys != 63 {
		t.Errorf("the ranges scanned %d Spanner keys, Spanner holds 63", s.TargetKeys)
	}
}

// TestKeyTypesNoFalseDrift backfills one table per key type (and a
// composite key), cut into chunks of two rows so every table gets several
// Spanner ranges, and requires a clean verify that looked up every source
// row and scanned every Spanner key exactly once: the Spanner → MySQL
// mapping of key values (sourceParam) finds every row it must, in a source
// time zone that is not UTC.
func TestKeyTypesNoFalseDrift(t *testing.T) {
	type kt struct{ name, def, values string }
	cases := []kt{
		{"k_ubig", "BIGINT UNSIGNED", "(0),(1),(9223372036854775808),(18446744073709551615)"},
		{"k_dec", "DECIMAL(10,3)", "(-5.5),(0),(1.001),(9999999.999)"},
		{"k_decwide", "DECIMAL(40,10)", "(-1),(123.456),(123456789012345678901234567890.0000000001)"},
		{"k_dt", "DATETIME(6)", "('2024-03-31 01:30:00.000001'),('2024-10-27 02:30:00'),('1999-12-31 23:59:59.999999'),('0001-01-02 00:00:00')"},
		{"k_ts", "TIMESTAMP(6)", "('1970-01-01 00:00:01'),('2038-01-19 03:14:07.999999'),('2024-10-27 01:30:00.5')"},
		{"k_date", "DATE", "('0001-01-01'),('2024-02-29'),('9999-12-31')"},
		{"k_bin", "VARBINARY(8)", "(0x00),(0x0000),(0xff),('a')"},
		{"k_binary", "BINARY(3)", "(0x01),(0x0102),('ab')"},
		{"k_char", "CHAR(5) COLLATE utf8mb4_bin", "('a'),('a b'),('B'),('é')"},
		{"k_vc", "VARCHAR(10) COLLATE utf8mb4_unicode_ci", "('a '),('straße'),('Ω'),('z')"},
		{"k_dbl", "DOUBLE", "(-1.5),(0),(1e300),(0.1)"},
		{"k_float", "FLOAT", "(0.1),(1.5),(-3.25)"},
		{"k_year", "YEAR", "(1901),(2155),(2024)"},
		{"k_time", "TIME(6)", "('-838:59:59'),('00:00:00.5'),('12:00:00'),('838:59:59')"},
		{"k_bool", "TINYINT(1)", "(0),(1)"},
		{"k_int", "INT", "(-1),(0),(2147483647)"},
	}
	var stmts []string
	var yaml strings.Builder
	rows := map[string]int64{}
	for _, c := range cases {
		stmts = append(stmts, "CREATE TABLE "+c.name+" (k "+c.def+" NOT NULL PRIMARY KEY, v INT NULL)",
			"INSERT INTO "+c.name+" (k) VALUES "+c.values)
		yaml.WriteString("  - source: " + c.name + "\n    chunking: {target_rows: 2}\n")
		rows[c.name] = int64(strings.Count(c.values, "),(") + 1)
	}
	stmts = append(stmts, "CREATE TABLE k_comp (a INT NOT NULL, b VARCHAR(10) COLLATE utf8mb4_general_ci NOT NULL, v INT, PRIMARY KEY (a, b))",
		"INSERT INTO k_comp (a, b) VALUES (1, 'x'), (1, 'Y'), (2, 'x'), (2, 'é'), (3, 'a')")
	yaml.WriteString("  - source: k_comp\n    chunking: {target_rows: 2}\n")
	rows["k_comp"] = 5
	v := newVenvTZ(t, yaml.String(), "Europe/Berlin", stmts...)
	for _, s := range v.run(t, config.Verify{Rounds: 1, Settle: 10 * time.Millisecond}) {
		if s.Drift() != 0 || s.Unsettled != 0 || s.SourceRows != rows[s.Table] || s.TargetKeys != rows[s.Table] || s.DeadLettered != 0 {
			t.Errorf("%s: drift %d, unsettled %d, source rows %d, Spanner keys %d, dead-lettered %d; want clean with %d and %d: %v",
				s.Table, s.Drift(), s.Unsettled, s.SourceRows, s.TargetKeys, s.DeadLettered, rows[s.Table], rows[s.Table], diffs(s))
		}
	}
}

// TestSpannerKeyOrder checks target.CompareKeys against the emulator's own key
// order, which the extras ranges rely on: random keys of every key type
// are written, read back in key order, and must come out as target.CompareKeys
// sorts them.
func TestSpannerKeyOrder(t *testing.T) {
	ctx := testenv.Context(t)
	e := testenv.New(t)
	ddl := []string{
		"CREATE TABLE o_s (s STRING(MAX) NOT NULL, i INT64 NOT NULL) PRIMARY KEY (s, i)",
		"CREATE TABLE o_b (b BYTES(MAX) NOT NULL) PRIMARY KEY (b)",
		"CREATE TABLE o_n (n NUMERIC NOT NULL) PRIMARY KEY (n)",
		"CREATE TABLE o_t (t TIMESTAMP NOT NULL, d DATE NOT NULL, f FLOAT64 NOT NULL, x BOOL NOT NULL) PRIMARY KEY (t, d, f, x)",
	}
	if err := target.ApplyDDL(ctx, e.SpannerDB, ddl); err != nil {
		t.Fatal(err)
	}
	client, err := target.Client(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	alphabet := []rune("aAbBzZ é€𝄞~0")
	str := func() string {
		r := make([]rune, rng.IntN(5))
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(r)
	}
	gen := map[string]func() []any{
		"o_s": func() []any { return []any{str(), rng.Int64N(5) - 2} },
		"o_b": func() []any {
			b := make([]byte, rng.IntN(4))
			for i := range b {
				b[i] = []byte{0x00, 0x01, 0x7f, 0x80, 0xff}[rng.IntN(5)]
			}
			return []any{b}
		},
		"o_n": func() []any { return []any{big.NewRat(rng.Int64N(2001)-1000, []int64{1, 2, 4, 8, 1000}[rng.IntN(5)])} },
		"o_t": func() []any {
			return []any{time.Unix(rng.Int64N(4), rng.Int64N(3)*1000).UTC(), civil.Date{Year: 2020, Month: time.Month(1 + rng.IntN(2)), Day: 1 + rng.IntN(2)},
				[]float64{-1.5, -0.25, 0, 2, 1e300}[rng.IntN(5)], rng.IntN(2) == 1}
		},
	}
	cols := map[string][]string{"o_s": {"s", "i"}, "o_b": {"b"}, "o_n": {"n"}, "o_t": {"t", "d", "f", "x"}}
	for name, g := range gen {
		seen := map[string]bool{}
		var want [][]any
		var muts []*spanner.Mutation
		for len(want) < 150 {
			k := g()
			if seen[fmt.Sprint(k)] {
				continue
			}
			seen[fmt.Sprint(k)] = true
			want = append(want, k)
			muts = append(muts, spanner.Insert(name, cols[name], k))
		}
		apply(t, client, muts...)
		sort.Slice(want, func(i, j int) bool { return target.CompareKeys(want[i], want[j]) < 0 })
		var got [][]any
		err := client.Single().Read(ctx, name, spanner.AllKeys(), cols[name]).Do(func(r *spanner.Row) error {
			var row []any
			switch name {
			case "o_s":
				var s string
				var i int64
				err := r.Columns(&s, &i)
				row = []any{s, i}
				return appendRow(&got, row, err)
			case "o_b":
				var b []byte
				err := r.Columns(&b)
				return appendRow(&got, []any{b}, err)
			case "o_n":
				var n big.Rat
				err := r.Columns(&n)
				return appendRow(&got, []any{&n}, err)
			}
			var ts time.Time
			var d civil.Date
			var f float64
			var x bool
			err := r.Columns(&ts, &d, &f, &x)
			return appendRow(&got, []any{ts, d, f, x}, err)
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: read %d keys, wrote %d", name, len(got), len(want))
		}
		for i := range want {
			if schema.KeyString(spanner.Key(want[i])) != schema.KeyString(spanner.Key(got[i])) {
				t.Fatalf("%s: position %d: CompareKeys puts %s, Spanner %s", name, i, schema.KeyString(spanner.Key(want[i])), schema.KeyString(spanner.Key(got[i])))
			}
		}
	}
}

func appendRow(rows *[][]any, row []any, err error) error {
	if err == nil {
		*rows = append(*rows, row)
	}
	return err
}
