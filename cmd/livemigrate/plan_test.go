package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/target"
)

// scriptStatements splits `plan --ddl` output into statements, dropping
// comment lines.
func scriptStatements(script string) []string {
	var out []string
	for _, chunk := range strings.Split(script, ";\n") {
		var lines []string
		for _, l := range strings.Split(chunk, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") && strings.TrimSpace(l) != "" {
				lines = append(lines, l)
			}
		}
		if len(lines) > 0 {
			out = append(out, strings.Join(lines, "\n"))
		}
	}
	return out
}

// TestPlanDDLAppliesToEmulator applies the printed DDL of the type zoo, in
// each foreign-key mode, to a fresh emulator database, and checks the
// parent-first order, the hotspot warning and the skipped ARRAY index.
func TestPlanDDLAppliesToEmulator(t *testing.T) {
	for _, mode := range []string{schema.FKDefer, schema.FKInline} {
		t.Run(mode, func(t *testing.T) {
			e, specPath := loadZoo(t)
			out, errOut, code := runCLI(t, nil, "plan", "--spec", specPath, "--ddl", "--foreign-keys="+mode)
			if code != 0 {
				t.Fatalf("plan --ddl: exit %d\n%s\n%s", code, out, errOut)
			}
			stmts := scriptStatements(out)
			parent, child := -1, -1
			for i, s := range stmts {
				if strings.HasPrefix(s, "CREATE TABLE `zoo_parent`") {
					parent = i
				}
				if strings.HasPrefix(s, "CREATE TABLE `zoo_child`") {
					child = i
				}
			}
			if parent < 0 || child < 0 || parent > child {
				t.Fatalf("zoo_parent (%d) must be created before zoo_child (%d):\n%s", parent, child, out)
			}
			fk := "CONSTRAINT `fk_child_parent` FOREIGN KEY (`parent_id`) REFERENCES `zoo_parent` (`id`) ON DELETE CASCADE"
			if mode == schema.FKInline && !strings.Contains(stmts[child], fk) {
				t.Fatalf("inline mode: zoo_child lacks %s:\n%s", fk, stmts[child])
			}
			if mode == schema.FKDefer && (strings.Contains(stmts[child], "FOREIGN KEY") || !strings.Contains(out, "-- AFTER THE BACKFILL") ||
				!strings.Contains(out, "ALTER TABLE `zoo_child` ADD "+fk)) {
				t.Fatalf("defer mode: the foreign key must follow as ALTER TABLE after the backfill note:\n%s", out)
			}
			for _, want := range []string{
				"[auto-increment-hotspot] AUTO_INCREMENT first primary-key column",
				"--   on zoo_parent.id\n",
				"bit-reversed sequence",
				"[index-unindexable-type] index skipped",
				"--   typezoo.idx_zoo_set: column t_set is ARRAY<STRING(MAX)>\n",
				"CREATE UNIQUE NULL_FILTERED INDEX `zoo_parent_uq_parent_tag` ON `zoo_parent` (`tag`)",
				"CREATE UNIQUE INDEX `zoo_parent_uq_parent_code` ON `zoo_parent` (`code`)",
				"CREATE TABLE `lm_shadow_typezoo`",
				"`t_set` ARRAY<STRING(MAX)>",
				"`t_float` FLOAT32",
				"`t_json` JSON",
				"`t_big_u` NUMERIC",
				"`t_dec_wide` STRING(MAX)",
				"`t_time6` STRING(17)",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("DDL output lacks %q", want)
				}
			}
			ctx := testenv.Context(t)
			if err := target.ApplyDDL(ctx, e.SpannerDB, stmts); err != nil {
				t.Fatalf("emulator rejected the DDL: %v\n%s", err, out)
			}
			tables, err := target.Tables(ctx, e.SpannerDB)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{"typezoo", "zoo_parent", "zoo_child", "lm_shadow_typezoo"} {
				if !tables[n] {
					t.Errorf("table %s not created", n)
				}
			}
			// The schema just created is exactly what the plan wants.
			out, errOut, code = runCLI(t, nil, "plan", "--spec", specPath, "--delta", "--json")
			if code != 0 {
				t.Fatalf("delta against the generated schema: exit %d\n%s\n%s", code, out, errOut)
			}
			var d schema.Delta
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatal(err)
			}
			if d.Blocking != 0 || d.Lossy != 0 || d.Compatible != 51+4+3+6+1 {
				t.Fatalf("delta: %d blocking, %d lossy, %d compatible; want 0, 0, 65 (columns, indexes, the foreign key)", d.Blocking, d.Lossy, d.Compatible)
			}
			// ENUM and SET definitions keep their members' case and spaces.
			mysqlType := map[string]string{}
			for _, f := range d.Findings {
				mysqlType[f.Column] = f.MySQL
			}
			for col, want := range map[string]string{
				"t_enum_mixed": `enum('Red','Dark Blue','Ünïcødé','it''s','back\\slash','trail','a,b',`,
				"t_set_mixed":  `set('Red','Dark Blue','Green','Ünï','it''s','back\\slash','trail',`,
			} {
				if !strings.HasPrefix(mysqlType[col], want) {
					t.Errorf("delta shows %s as %q, want it to start with %q", col, mysqlType[col], want)
				}
			}
		})
	}
}

// TestPlanDelta seeds a Spanner schema that diverges from MySQL in every way
// the report knows and checks each divergence is listed with its class.
func TestPlanDelta(t *testing.T) {
	e := testenv.New(t)
	e.Exec(t,
		"CREATE TABLE d_same (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL)",
		`CREATE TABLE d_div (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(50), qty INT, price DECIMAL(65,30), flag TINYINT(1),
			body TEXT, gone VARCHAR(5), nn VARCHAR(5) NULL, f FLOAT, wide VARCHAR(10), big BIGINT UNSIGNED)`,
		"CREATE TABLE d_pk (a INT NOT NULL, b INT NOT NULL, PRIMARY KEY (a, b))",
		"CREATE TABLE d_missing (id INT NOT NULL PRIMARY KEY)",
	)
	ctx := testenv.Context(t)
	if err := target.ApplyDDL(ctx, e.SpannerDB, []string{
		"CREATE TABLE d_same (id INT64 NOT NULL, name STRING(50) NOT NULL) PRIMARY KEY (id)",
		`CREATE TABLE d_div (id INT64 NOT NULL, name STRING(20), qty STRING(MAX), price NUMERIC, flag INT64, body INT64,
			nn STRING(5) NOT NULL, f FLOAT64, wide STRING(MAX), big INT64, extra_ok STRING(10), extra_req INT64 NOT NULL) PRIMARY KEY (id)`,
		"CREATE TABLE d_pk (a INT64 NOT NULL, b INT64 NOT NULL) PRIMARY KEY (b, a)",
		"CREATE TABLE d_extra (k INT64 NOT NULL) PRIMARY KEY (k)",
	}); err != nil {
		t.Fatal(err)
	}
	specPath := e.SpecYAML(t, "  - source: d_same\n  - source: d_div\n  - source: d_pk\n  - source: d_missing\n")
	out, errOut, code := runCLI(t, nil, "plan", "--spec", specPath, "--delta", "--json")
	if code != 1 {
		t.Fatalf("delta with blocking differences: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	var d schema.Delta
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	got := map[string]schema.Finding{}
	for _, f := range d.Findings {
		got[f.Table+"."+f.Column+"/"+f.What] = f
	}
	want := []struct{ key, class, detail string }{
		{"d_same.id/column", schema.Compatible, ""},
		{"d_same.name/column", schema.Compatible, ""},
		{"d_div.name/column", schema.Lossy, "narrower than planned"},
		{"d_div.qty/column", schema.Lossy, "needs conversion INT64 → STRING(MAX)"},
		{"d_div.price/column", schema.Lossy, "columns.overrides.price.type: NUMERIC"},
		{"d_div.flag/column", schema.Lossy, "needs conversion BOOL → INT64"},
		{"d_div.f/column", schema.Lossy, "needs conversion FLOAT32 → FLOAT64"},
		{"d_div.big/column", schema.Lossy, "values above 9223372036854775807 are dead-lettered"},
		{"d_div.body/column", schema.Blocking, "cannot be written to Spanner INT64"},
		{"d_div.gone/missing-column", schema.Blocking, "does not exist in Spanner"},
		{"d_div.nn/nullability", schema.Blocking, "NOT NULL but MySQL allows NULL"},
		{"d_div.wide/column", schema.Compatible, "wider"},
		{"d_div.extra_ok/extra-column", schema.Compatible, "leaves it NULL"},
		{"d_div.extra_req/extra-column", schema.Blocking, "NOT NULL without a default"},
		{"d_pk./primary-key", schema.Blocking, "primary keys differ"},
		{"d_missing./missing-table", schema.Blocking, "plan --apply"},
		{"d_extra./extra-table", schema.Compatible, "not in the spec"},
	}
	for _, w := range want {
		f, ok := got[w.key]
		if !ok {
			t.Errorf("no finding %s", w.key)
			continue
		}
		if f.Class != w.class || !strings.Contains(f.Detail, w.detail) {
			t.Errorf("%s: %s %q, want %s containing %q", w.key, f.Class, f.Detail, w.class, w.detail)
		}
	}
	if d.Blocking != 6 || d.Lossy != 6 {
		t.Errorf("totals: %d blocking, %d lossy; want 6, 6\n%s", d.Blocking, d.Lossy, out)
	}
	// The human table says the same, blocking first, and the last line counts.
	out, errOut, code = runCLI(t, nil, "plan", "--spec", specPath, "--delta")
	if code != 1 || !strings.HasPrefix(strings.Split(out, "\n")[1], "BLOCKING") || !strings.Contains(out, "6 blocking, 6 lossy") ||
		!strings.Contains(errOut, "blocking differences") {
		t.Fatalf("human delta: exit %d\n%s\n%s", code, out, errOut)
	}
	// Nothing blocks for the table that matches: exit 0.
	okSpec := e.SpecYAML(t, "  - source: d_same\n")
	if out, errOut, code := runCLI(t, nil, "plan", "--spec", okSpec, "--delta"); code != 0 || !strings.Contains(out, "0 blocking, 0 lossy") {
		t.Fatalf("delta with nothing blocking: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestPlanTableWithoutKey: a table without a primary key or usable unique
// key is bad input (exit 2) with the options, never a crash; naming a NOT
// NULL unique key fixes it.
func TestPlanTableWithoutKey(t *testing.T) {
	e := testenv.New(t)
	e.Exec(t,
		"CREATE TABLE nokey (a INT, b VARCHAR(10), UNIQUE KEY uq_a (a))",
		"CREATE TABLE uk (a INT NOT NULL, b VARCHAR(10), UNIQUE KEY uq_a (a))",
	)
	cases := []struct {
		table string
		want  []string
	}{
		{"nokey", []string{`table "nokey" has no primary key and no NOT NULL unique key`, "exclude the table from the spec", "add a primary key"}},
		{"uk", []string{`table "uk" has no primary key`, "key: [a]", "or exclude the table"}},
	}
	for _, c := range cases {
		for _, cmd := range []string{"plan", "backfill"} {
			out, errOut, code := runCLI(t, nil, cmd, "--spec", e.SpecYAML(t, "  - source: "+c.table+"\n"))
			if code != 2 {
				t.Fatalf("%s %s: exit %d, want 2\n%s\n%s", cmd, c.table, code, out, errOut)
			}
			if strings.Contains(errOut, "panic") || strings.Contains(errOut, "goroutine ") {
				t.Fatalf("crash:\n%s", errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("%s %s: stderr lacks %q:\n%s", cmd, c.table, w, errOut)
				}
			}
		}
	}
	out, errOut, code := runCLI(t, nil, "plan", "--spec", e.SpecYAML(t, "  - source: uk\n    key: [a]\n"), "--ddl")
	if code != 0 || !strings.Contains(out, "PRIMARY KEY (`a`)") {
		t.Fatalf("with key: [a]: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestPlanDeltaStructure seeds a Spanner schema that lacks an index, has a
// foreign key to another table and is not interleaved where the spec asks
// for it; each is reported as such, and the blocking ones make exit 1.
func TestPlanDeltaStructure(t *testing.T) {
	e := testenv.New(t)
	e.Exec(t,
		"CREATE TABLE p (id BIGINT NOT NULL PRIMARY KEY)",
		"CREATE TABLE other (id BIGINT NOT NULL PRIMARY KEY)",
		`CREATE TABLE c (id BIGINT NOT NULL, seq INT NOT NULL, note VARCHAR(20), PRIMARY KEY (id, seq), KEY idx_note (note DESC),
			CONSTRAINT fk_c_p FOREIGN KEY (id) REFERENCES p (id) ON DELETE CASCADE)`,
		`CREATE TABLE o (id BIGINT NOT NULL PRIMARY KEY, pid BIGINT, UNIQUE KEY uq_pid (pid),
			CONSTRAINT fk_o_p FOREIGN KEY (pid) REFERENCES p (id))`,
	)
	ctx := testenv.Context(t)
	if err := target.ApplyDDL(ctx, e.SpannerDB, []string{
		"CREATE TABLE p (id INT64 NOT NULL) PRIMARY KEY (id)",
		"CREATE TABLE other (id INT64 NOT NULL) PRIMARY KEY (id)",
		"CREATE TABLE c (id INT64 NOT NULL, seq INT64 NOT NULL, note STRING(20)) PRIMARY KEY (id, seq)",
		"CREATE TABLE o (id INT64 NOT NULL, pid INT64, CONSTRAINT fk_o_p FOREIGN KEY (pid) REFERENCES other (id)) PRIMARY KEY (id)",
		"CREATE UNIQUE INDEX o_uq_pid ON o (pid)",
	}); err != nil {
		t.Fatal(err)
	}
	specPath := e.SpecYAML(t, "  - source: p\n  - source: other\n  - source: c\n    interleave_in: p\n  - source: o\n")
	out, errOut, code := runCLI(t, nil, "plan", "--spec", specPath, "--delta", "--json")
	if code != 1 {
		t.Fatalf("delta: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	var d schema.Delta
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	got := map[string]schema.Finding{}
	for _, f := range d.Findings {
		got[f.Table+"."+f.Column+f.Object+"/"+f.What] = f
	}
	for _, w := range []struct{ key, class, detail string }{
		{"c./missing-interleave", schema.Blocking, "cannot interleave an existing table"},
		{"c.c_idx_note/missing-index", schema.Lossy, "CREATE INDEX `c_idx_note` ON `c` (`note` DESC)"},
		{"o.fk_o_p/foreign-key", schema.Blocking, "references other columns or another table"},
		{"o.o_uq_pid/index", schema.Blocking, "stricter"},
	} {
		f, ok := got[w.key]
		if !ok {
			t.Errorf("no finding %s in\n%s", w.key, out)
			continue
		}
		if f.Class != w.class || !strings.Contains(f.Detail, w.detail) {
			t.Errorf("%s: %s %q, want %s containing %q", w.key, f.Class, f.Detail, w.class, w.detail)
		}
	}
	if f := got["o.fk_o_p/foreign-key"]; f.Planned != "(pid) → p (id) ON DELETE NO ACTION" || f.Spanner != "(pid) → other (id) ON DELETE NO ACTION" {
		t.Errorf("foreign key shown as planned %q, Spanner %q", f.Planned, f.Spanner)
	}
	// The human table names the object and what differs.
	out, _, code = runCLI(t, nil, "plan", "--spec", specPath, "--delta")
	if code != 1 || !strings.Contains(out, "missing-interleave") || !strings.Contains(out, "c_idx_note") || !strings.Contains(out, "fk_o_p") {
		t.Errorf("human delta: exit %d\n%s", code, out)
	}
}

// TestPlanNames: a target name Spanner would refuse (characters, a
// reserved keyword, length) is bad input in plan and backfill, with a
// suggested name and the spec change.
func TestPlanNames(t *testing.T) {
	e := testenv.New(t)
	e.Exec(t, "CREATE TABLE `order` (id INT NOT NULL PRIMARY KEY, `unit price` INT, `größe` INT)")
	cases := []struct{ tables, want string }{
		{"  - source: order\n    target: Orders\n    columns: {rename: {\"unit price\": \"bad name!\", größe: groesse}}\n",
			`target column name "bad name!" is not a valid Spanner column name: it may hold only letters, digits and underscores; add ` + "`columns: {rename: {\"unit price\": bad_name}}`"},
		{"  - source: order\n    target: Orders\n    columns: {rename: {\"unit price\": unit_price}}\n",
			`target column name "größe" is not a valid Spanner column name: it may hold only letters, digits and underscores; add ` + "`columns: {rename: {\"größe\": grosse}}`"},
		{"  - source: order\n    target: " + strings.Repeat("x", 120) + "\n    columns: {exclude: [\"unit price\", größe]}\n",
			"its shadow table lm_shadow_x"},
	}
	for _, c := range cases {
		specPath := e.SpecYAML(t, c.tables)
		for _, cmd := range []string{"plan", "backfill"} {
			_, errOut, code := runCLI(t, nil, cmd, "--spec", specPath)
			if code != 2 || !strings.Contains(errOut, c.want) {
				t.Errorf("%s: exit %d, want 2 with %q:\n%s", cmd, code, c.want, errOut)
			}
		}
	}
	ok := e.SpecYAML(t, "  - source: order\n    target: Orders\n    columns: {rename: {\"unit price\": UnitPrice, größe: Groesse}}\n")
	if out, errOut, code := runCLI(t, nil, "plan", "--spec", ok); code != 0 || !strings.Contains(out, "`UnitPrice` INT64") {
		t.Errorf("valid renames: exit %d\n%s\n%s", code, out, errOut)
	}
	// A reserved keyword is accepted (quoted) but flagged with a rename.
	reserved := e.SpecYAML(t, "  - source: order\n    columns: {exclude: [\"unit price\", größe]}\n")
	if out, errOut, code := runCLI(t, nil, "plan", "--spec", reserved); code != 0 || !strings.Contains(out, "[reserved-name]") ||
		!strings.Contains(out, "--   order: table order; rename it with `target: order_`") {
		t.Errorf("reserved table name: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestPlanDemoWarningsOnce: on the demo schema, `plan --ddl` prints each
// warning's explanation exactly once (stdout and stderr together); an
// acknowledged code is marked, and --quiet hides it but for a count.
func TestPlanDemoWarningsOnce(t *testing.T) {
	e := testenv.New(t)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(e.Root, "testdata", "demo", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	e.Exec(t, read("schema.sql"))
	tables := "  - source: customers\n  - source: products\n  - source: orders\n  - source: order_items\n"
	specPath := e.SpecYAML(t, tables)
	out, errOut, code := runCLI(t, nil, "plan", "--spec", specPath, "--ddl", "--json")
	if code != 0 {
		t.Fatalf("plan --json: exit %d\n%s", code, errOut)
	}
	var d schema.DDL
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Warnings) == 0 {
		t.Fatal("the demo has warnings (an AUTO_INCREMENT key); none reported")
	}
	out, errOut, code = runCLI(t, nil, "plan", "--spec", specPath, "--ddl")
	if code != 0 {
		t.Fatalf("plan --ddl: exit %d\n%s", code, errOut)
	}
	for _, w := range d.Warnings {
		if n := strings.Count(out+errOut, w.Message); n != 1 {
			t.Errorf("[%s] explanation printed %d times:\n%s\n%s", w.Code, n, out, errOut)
		}
	}
	// Acknowledged: marked; with --quiet only counted.
	ackSpec := strings.Replace(specPath, "spec.yaml", "ack.yaml", 1)
	body, _ := os.ReadFile(specPath)
	ack := strings.Replace(string(body), "tables:\n", "defaults:\n  acknowledge: [auto-increment-hotspot]\ntables:\n", 1)
	if err := os.WriteFile(ackSpec, []byte(ack), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, _ = runCLI(t, nil, "plan", "--spec", ackSpec, "--ddl")
	if !strings.Contains(out, "[auto-increment-hotspot, acknowledged]") {
		t.Errorf("acknowledged warning not marked:\n%s", out)
	}
	out, _, _ = runCLI(t, nil, "plan", "--spec", ackSpec, "--ddl", "--quiet")
	if strings.Contains(out, "bit-reversed") || !strings.Contains(out, "acknowledged and hidden (--quiet): auto-increment-hotspot (") {
		t.Errorf("--quiet did not hide the acknowledged warning:\n%s", out)
	}
	bad := strings.Replace(string(body), "tables:\n", "defaults:\n  acknowledge: [no-such-code]\ntables:\n", 1)
	os.WriteFile(ackSpec, []byte(bad), 0o644)
	if _, errOut, code := runCLI(t, nil, "plan", "--spec", ackSpec); code != 2 || !strings.Contains(errOut, `"no-such-code" is not a warning code`) {
		t.Errorf("unknown acknowledged code: exit %d\n%s", code, errOut)
	}
}
