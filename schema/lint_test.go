package schema

import (
	"math/rand"
	"strings"
	"testing"
)

func TestNameProblem(t *testing.T) {
	for name, want := range map[string]string{
		"Orders":                  "",
		"order_items2":            "",
		"bad name!":               "only letters, digits and underscores",
		"größe":                   "only letters, digits and underscores",
		"_x":                      "does not start with a letter",
		"2fa":                     "does not start with a letter",
		"Order":                   "",
		"select":                  "",
		"":                        "empty",
		strings.Repeat("a", 128):  "",
		strings.Repeat("a", 129):  "129 characters",
		"unit-price":              "only letters",
		"SingerId_Tokens":         "",
		"lookup":                  "",
		"ends_with_underscore_":   "",
		"Mixed_Case_Keeps_Itself": "",
	} {
		got := NameProblem(name)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("NameProblem(%q) = %q, want %q", name, got, want)
		}
	}
	if !Reserved("Order") || !Reserved("at") || Reserved("Orders") {
		t.Errorf("Reserved: GoogleSQL's reserved keywords, case-insensitively")
	}
	for in, want := range map[string]string{
		"bad name!":  "bad_name",
		"größe":      "grosse",
		"Crème":      "Creme",
		"2fa":        "x_2fa",
		"order":      "order_",
		"unit-price": "unit_price",
		"__":         "x",
		"KeepCase":   "KeepCase",
	} {
		if got := SuggestName(in, MaxNameLen); got != want {
			t.Errorf("SuggestName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSuggestNameAlwaysValid is a property test: whatever the input, the
// suggestion is a valid Spanner name within the length asked for.
func TestSuggestNameAlwaysValid(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	alphabet := []rune("aZ_09 -!é中😀ßOrDeR`'\"")
	for i := 0; i < 5000; i++ {
		var b strings.Builder
		for n := r.Intn(200); n > 0; n-- {
			b.WriteRune(alphabet[r.Intn(len(alphabet))])
		}
		max := 10 + r.Intn(119)
		s := SuggestName(b.String(), max)
		if why := NameProblem(s); why != "" || Reserved(s) || len(s) > max {
			t.Fatalf("SuggestName(%q, %d) = %q: %s", b.String(), max, s, why)
		}
	}
	taken := map[string]bool{}
	a, b := generatedName("Orders_idx", taken), generatedName("orders_IDX", taken)
	if a != "Orders_idx" || b != "orders_IDX_2" {
		t.Errorf("generated names %q, %q: Spanner compares names case-insensitively", a, b)
	}
}

func TestRenderWarningsGroups(t *testing.T) {
	var ws []Warning
	for _, tbl := range []string{"a", "b", "c"} {
		ws = append(ws, newWarning(WAutoIncrementHotspot, tbl, "id", "", ""))
		ws = append(ws, newWarning(WAutoIncrementHotspot, tbl, "id", "", "")) // a duplicate is listed once
	}
	ws = append(ws, newWarning(WFKOnUpdate, "b", "", "fk1", "ON UPDATE CASCADE"), newWarning(WFKOnUpdate, "c", "", "fk2", "ON UPDATE SET NULL"))
	ws[0].Acknowledged, ws[1].Acknowledged, ws[2].Acknowledged, ws[3].Acknowledged, ws[4].Acknowledged, ws[5].Acknowledged = true, true, true, true, true, true
	out := RenderWarnings(ws, "-- ", false)
	if n := strings.Count(out, "bit-reversed"); n != 1 {
		t.Errorf("hotspot remedy printed %d times:\n%s", n, out)
	}
	for _, want := range []string{"--   on a.id, b.id, c.id\n", "--   b.fk1: ON UPDATE CASCADE\n", "--   c.fk2: ON UPDATE SET NULL\n", "[auto-increment-hotspot, acknowledged]"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "[fk-on-update]") > strings.Index(out, "[auto-increment-hotspot") {
		t.Errorf("acknowledged warnings must come last:\n%s", out)
	}
	quiet := RenderWarnings(ws, "-- ", true)
	if strings.Contains(quiet, "bit-reversed") || !strings.Contains(quiet, "acknowledged and hidden (--quiet): auto-increment-hotspot (3)") {
		t.Errorf("--quiet:\n%s", quiet)
	}
	if err := checkAcknowledge([]string{WFKOnUpdate}); err != nil {
		t.Error(err)
	}
	if err := checkAcknowledge([]string{"nope"}); err == nil || !strings.Contains(err.Error(), "auto-increment-hotspot") {
		t.Errorf("unknown code: %v", err)
	}
}

// textCol makes a column plan of a MySQL type.
func textCol(name, dt, ct string, maxLen int64) ColumnPlan {
	c := Column{Name: name, DataType: dt, ColumnType: ct, Nullable: true, CharMaxLen: maxLen}
	m, _ := Map(c, Options{})
	return ColumnPlan{Source: name, Target: name, Column: c, Mapping: m}
}

func TestTargetIndexDecisions(t *testing.T) {
	p := plan("doc")
	p.Cols = append(p.Cols, textCol("title", "varchar", "varchar(100)", 100), textCol("body", "text", "text", 65535),
		textCol("geo", "point", "point", 0), textCol("code", "varchar", "varchar(10)", 10))
	p.Table.Indexes = []Index{
		{Name: "ft", Columns: []string{"title", "body"}, Type: "FULLTEXT"},
		{Name: "sp", Columns: []string{"geo"}, Type: "SPATIAL", Prefix: true},
		{Name: "big", Columns: []string{"body"}, Prefix: true, Type: "BTREE"},
		{Name: "uq", Columns: []string{"code"}, Unique: true, Nullable: true, Desc: []bool{true}, Type: "BTREE"},
	}
	codes := func(ws []Warning) string {
		var out []string
		for _, w := range ws {
			out = append(out, w.Code+":"+w.Object)
		}
		return strings.Join(out, " ")
	}
	tt, ws := p.targetIndexes(DDLOptions{}, map[string]bool{})
	if got := codes(ws); got != "fulltext-index:ft spatial-index:sp index-prefix:big index-key-size:big" {
		t.Errorf("warnings: %s", got)
	}
	var sqls []string
	for _, ix := range tt.Indexes {
		sqls = append(sqls, ix.SQL())
	}
	if got := strings.Join(sqls, "\n"); got != "CREATE INDEX `Doc_big` ON `Doc` (`body`)\nCREATE UNIQUE NULL_FILTERED INDEX `Doc_uq` ON `Doc` (`code` DESC)" {
		t.Errorf("indexes:\n%s", got)
	}
	p.Schema.LargeIndexKeys = LargeKeysSkip
	tt, _ = p.targetIndexes(DDLOptions{Fulltext: FulltextSearch}, map[string]bool{})
	sqls = nil
	for _, ix := range tt.Indexes {
		sqls = append(sqls, ix.SQL())
	}
	if got := strings.Join(sqls, "\n"); got != "CREATE SEARCH INDEX `Doc_ft` ON `Doc` (`title_Tokens`, `body_Tokens`)\nCREATE UNIQUE NULL_FILTERED INDEX `Doc_uq` ON `Doc` (`code` DESC)" {
		t.Errorf("search + skip large keys:\n%s", got)
	}
	if ddl := p.createTable(nil, tt.Tokens); !strings.Contains(ddl, "`body_Tokens` TOKENLIST AS (TOKENIZE_FULLTEXT(`body`)) HIDDEN,") {
		t.Errorf("TOKENLIST column missing:\n%s", ddl)
	}
}

// interleavePlans: orders(id) ← lines(order_id, no) with a foreign key
// lines.order_id → orders.id ON DELETE CASCADE, and notes(order_id)
// ← not a prefix.
func interleavePlans(lineKeyName string) []TablePlan {
	orders := plan("orders")
	lines := plan("lines", ForeignKey{Name: "fk_lines", Columns: []string{lineKeyName}, RefTable: "orders", RefColumns: []string{"id"}, OnDelete: "CASCADE"})
	lines.Cols[0].Source, lines.Cols[0].Target, lines.Cols[0].Column.Name = lineKeyName, lineKeyName, lineKeyName
	no := lines.Cols[1]
	no.Source, no.Target, no.Column.Name, no.Column.Nullable = "no", "no", "no", false
	lines.Cols = append(lines.Cols, no)
	lines.Key = []int{0, 2}
	notes := plan("notes", ForeignKey{Name: "fk_notes", Columns: []string{"ref"}, RefTable: "orders", RefColumns: []string{"id"}})
	return []TablePlan{lines, orders, notes}
}

func TestInterleave(t *testing.T) {
	plans := interleavePlans("id")
	cands := InterleaveCandidates(plans)
	if len(cands) != 1 || cands[0].Child != "lines" || cands[0].Parent != "orders" || cands[0].Interleave.OnDelete != "CASCADE" || len(cands[0].Renames) != 0 {
		t.Fatalf("candidates: %+v", cands)
	}
	if ws := interleaveWarnings(plans); len(ws) != 1 || ws[0].Code != WInterleaveCandidate || ws[0].Table != "lines" {
		t.Fatalf("suggestion: %+v", ws)
	}
	if err := ResolveInterleave(plans, true); err != nil || plans[0].Interleave == nil || plans[0].Interleave.ParentKeyLen != 1 {
		t.Fatalf("--interleave: %v %+v", err, plans[0].Interleave)
	}
	if got := Levels(plans); len(got) != 2 || strings.Join(got[0], ",") != "orders,notes" || strings.Join(got[1], ",") != "lines" {
		t.Fatalf("levels: %v", got)
	}
	d := GenerateDDL(plans, FKDefer)
	sql := strings.Join(d.SQL(), ";\n")
	if !strings.Contains(sql, ") PRIMARY KEY (`id`, `no`),\n  INTERLEAVE IN PARENT `Orders` ON DELETE CASCADE") || strings.Contains(sql, "fk_lines") {
		t.Errorf("interleave DDL:\n%s", sql)
	}
	if strings.Index(sql, "CREATE TABLE `Orders`") > strings.Index(sql, "CREATE TABLE `Lines`") {
		t.Errorf("parent must be created first:\n%s", sql)
	}

	// Names differ: a suggestion with the rename, and interleave_in refuses.
	plans = interleavePlans("order_id")
	if ws := interleaveWarnings(plans); len(ws) != 1 || ws[0].Code != WInterleaveRename || !strings.Contains(ws[0].Detail, "tables[orders].columns.rename: {id: order_id}") {
		t.Fatalf("rename suggestion: %+v", ws)
	}
	if err := ResolveInterleave(plans, true); err != nil || plans[0].Interleave != nil {
		t.Fatalf("--interleave must skip a pair that needs a rename: %v %+v", err, plans[0].Interleave)
	}
	plans[0].Schema.InterleaveIn = "orders"
	if err := ResolveInterleave(plans, false); err == nil || !strings.Contains(err.Error(), "rename: {id: order_id}") {
		t.Fatalf("interleave_in needing a rename: %v", err)
	}
	plans = interleavePlans("id")
	plans[2].Schema.InterleaveIn = "orders"
	if err := ResolveInterleave(plans, false); err == nil || !strings.Contains(err.Error(), "does not start with the foreign key's columns") {
		t.Fatalf("interleave_in without a key prefix: %v", err)
	}
}

func TestCompareStructure(t *testing.T) {
	plans := interleavePlans("id")
	plans[0].Schema.InterleaveIn = "orders"
	plans[0].Table.Indexes = []Index{{Name: "by_ref", Columns: []string{"ref"}}}
	if err := ResolveInterleave(plans, false); err != nil {
		t.Fatal(err)
	}
	cols := func(names ...string) []SpannerColumn {
		var out []SpannerColumn
		for _, n := range names {
			out = append(out, SpannerColumn{Name: n, Type: "INT64", Nullable: n == "ref"})
		}
		return out
	}
	existing := []SpannerTable{
		{Name: "Lines", Columns: cols("id", "ref", "no"), PrimaryKey: []string{"id", "no"}},
		{Name: "Orders", Columns: cols("id", "ref"), PrimaryKey: []string{"id"}},
		{Name: "Notes", Columns: cols("id", "ref"), PrimaryKey: []string{"id"},
			FKs: []SpannerFK{{Name: "fk_notes", Columns: []string{"ref"}, RefTable: "Lines", RefColumns: []string{"id"}, OnDelete: "NO ACTION"}}},
	}
	d := Compare(plans, existing)
	got := map[string]string{}
	for _, f := range d.Findings {
		got[f.Table+"."+f.Object+"/"+f.What] = f.Class
	}
	for key, class := range map[string]string{
		"Lines./missing-interleave":        Blocking,
		"Lines.Lines_by_ref/missing-index": Lossy,
		"Notes.fk_notes/foreign-key":       Blocking,
	} {
		if got[key] != class {
			t.Errorf("%s: %q, want %s (all: %v)", key, got[key], class, got)
		}
	}
	// Once Spanner matches, nothing blocks.
	existing[0].Parent, existing[0].OnDelete = "Orders", "CASCADE"
	existing[0].Indexes = []SpannerIndex{{Name: "Lines_by_ref", Columns: []string{"ref"}}}
	existing[2].FKs[0].RefTable = "Orders"
	if d := Compare(plans, existing); d.Blocking != 0 || d.Lossy != 0 {
		t.Errorf("matching schema: %+v", d.Findings)
	}
}
