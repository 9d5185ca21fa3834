package schema

import (
	"fmt"
	"strings"
)

// QuoteSpanner quotes a Spanner (GoogleSQL) identifier.
func QuoteSpanner(s string) string { return "`" + strings.ReplaceAll(s, "`", "\\`") + "`" }

// SpannerKeyLimit is Spanner's limit on one key (table or index) in bytes.
const SpannerKeyLimit = 8 << 10

// TargetIndex is one index the plan creates in Spanner.
type TargetIndex struct {
	Name         string   `json:"name"`
	Table        string   `json:"table"`  // Spanner table
	Source       string   `json:"source"` // the MySQL index it comes from
	Columns      []string `json:"columns"`
	Desc         []bool   `json:"desc,omitempty"`
	Unique       bool     `json:"unique,omitempty"`
	NullFiltered bool     `json:"null_filtered,omitempty"`
	// Search is a SEARCH INDEX over TOKENLIST columns (from FULLTEXT).
	Search bool `json:"search,omitempty"`
}

// SQL renders the CREATE statement.
func (ix TargetIndex) SQL() string {
	cols := make([]string, len(ix.Columns))
	for i, c := range ix.Columns {
		cols[i] = QuoteSpanner(c)
		if i < len(ix.Desc) && ix.Desc[i] {
			cols[i] += " DESC"
		}
	}
	kind := "INDEX"
	switch {
	case ix.Search:
		kind = "SEARCH INDEX"
	case ix.Unique && ix.NullFiltered:
		kind = "UNIQUE NULL_FILTERED INDEX"
	case ix.Unique:
		kind = "UNIQUE INDEX"
	case ix.NullFiltered:
		kind = "NULL_FILTERED INDEX"
	}
	return fmt.Sprintf("CREATE %s %s ON %s (%s)", kind, QuoteSpanner(ix.Name), QuoteSpanner(ix.Table), strings.Join(cols, ", "))
}

// TokenColumn is a hidden TOKENLIST column Spanner computes from a text
// column for full-text search.
type TokenColumn struct {
	Name string `json:"name"`
	Of   string `json:"of"` // the STRING column it tokenizes
}

// TargetFK is one foreign key the plan creates in Spanner.
type TargetFK struct {
	Name       string   `json:"name"`
	Table      string   `json:"table"`  // Spanner table
	Source     string   `json:"source"` // the MySQL constraint
	Columns    []string `json:"columns"`
	RefTable   string   `json:"ref_table"` // Spanner table
	RefColumns []string `json:"ref_columns"`
	OnDelete   string   `json:"on_delete"` // CASCADE or NO ACTION
}

func (fk TargetFK) clause() string {
	s := fmt.Sprintf("CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)", QuoteSpanner(fk.Name),
		strings.Join(quoteAll(fk.Columns), ", "), QuoteSpanner(fk.RefTable), strings.Join(quoteAll(fk.RefColumns), ", "))
	if fk.OnDelete == "CASCADE" {
		s += " ON DELETE CASCADE"
	}
	return s
}

// TableTarget is everything the plan creates for one table besides the
// columns: indexes, TOKENLIST columns, foreign keys.
type TableTarget struct {
	Plan    *TablePlan    `json:"-"`
	Indexes []TargetIndex `json:"indexes,omitempty"`
	Tokens  []TokenColumn `json:"tokens,omitempty"`
	FKs     []TargetFK    `json:"foreign_keys,omitempty"`
}

// DDLOptions are the run's choices for the target schema.
type DDLOptions struct {
	// ForeignKeys is FKDefer (default), FKInline, FKOnly or FKNone.
	ForeignKeys string
	// Fulltext, when set (plan --fulltext), overrides every table's
	// Schema.Fulltext.
	Fulltext string
}

// CreateTableDDL renders the Spanner CREATE TABLE for a plan, without
// foreign keys, TOKENLIST columns or interleaving.
func (p *TablePlan) CreateTableDDL() string { return p.createTable(nil, nil) }

func (p *TablePlan) createTable(fks []string, tokens []TokenColumn) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (\n", QuoteSpanner(p.Target))
	for _, c := range p.Cols {
		fmt.Fprintf(&b, "  %s %s", QuoteSpanner(c.Target), c.Mapping.SpannerType)
		if !c.Column.Nullable {
			b.WriteString(" NOT NULL")
		}
		b.WriteString(",\n")
	}
	for _, t := range tokens {
		fmt.Fprintf(&b, "  %s TOKENLIST AS (TOKENIZE_FULLTEXT(%s)) HIDDEN,\n", QuoteSpanner(t.Name), QuoteSpanner(t.Of))
	}
	for _, fk := range fks {
		fmt.Fprintf(&b, "  %s,\n", fk)
	}
	fmt.Fprintf(&b, ") PRIMARY KEY (%s)", strings.Join(quoteAll(p.TargetKey()), ", "))
	if il := p.Interleave; il != nil {
		fmt.Fprintf(&b, ",\n  INTERLEAVE IN PARENT %s ON DELETE %s", QuoteSpanner(il.ParentTarget), il.OnDelete)
	}
	return b.String()
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = QuoteSpanner(n)
	}
	return out
}

// IndexDDL renders the Spanner indexes for the table's MySQL unique and
// secondary indexes that can mean the same in Spanner (see targetIndexes).
func (p *TablePlan) IndexDDL() []string {
	tt, _ := p.targetIndexes(DDLOptions{}, map[string]bool{strings.ToLower(p.Target): true})
	var out []string
	for _, ix := range tt.Indexes {
		if !ix.Search {
			out = append(out, ix.SQL())
		}
	}
	return out
}

// targetIndexes decides every MySQL index of the table: the chunk key's
// own index is the primary key; FULLTEXT becomes full-text search or
// nothing, SPATIAL nothing; indexes over uncopied or unindexable columns
// are skipped; a key that can exceed 8 KiB is kept or skipped as the spec
// says. Every decision that changes meaning is a warning. taken holds the
// database's names (tables, indexes), compared case-insensitively.
func (p *TablePlan) targetIndexes(o DDLOptions, taken map[string]bool) (TableTarget, []Warning) {
	tt := TableTarget{Plan: p}
	var warn []Warning
	w := func(code, object, detail string) { warn = append(warn, newWarning(code, p.Source, "", object, detail)) }
	fulltext := p.Schema.Fulltext
	if o.Fulltext != "" {
		fulltext = o.Fulltext
	}
	colNames := map[string]bool{}
	for _, c := range p.Cols {
		colNames[strings.ToLower(c.Target)] = true
	}
	tokenOf := map[string]string{} // target column → its TOKENLIST column
	for _, ix := range p.Table.Indexes {
		if EqualFoldList(ix.Columns, p.sourceKey()) && !ix.Fulltext() && !ix.Spatial() {
			continue
		}
		cols, ok := p.targetNames(ix.Columns)
		if !ok {
			w(WIndexColumnsNotCopy, ix.Name, "("+strings.Join(ix.Columns, ", ")+")")
			continue
		}
		switch {
		case ix.Spatial():
			w(WSpatialIndex, ix.Name, "SPATIAL ("+strings.Join(ix.Columns, ", ")+")")
			continue
		case ix.Fulltext() && fulltext != FulltextSearch:
			w(WFulltextIndex, ix.Name, "FULLTEXT ("+strings.Join(ix.Columns, ", ")+")")
			continue
		case ix.Fulltext():
			var tokens []string
			for i, c := range cols {
				if k := p.col(ix.Columns[i]).Mapping.Kind; k != KindString && k != KindTextString {
					tokens = nil
					w(WIndexUnindexable, ix.Name, fmt.Sprintf("FULLTEXT: column %s is %s, which TOKENIZE_FULLTEXT cannot read", c, p.col(ix.Columns[i]).Mapping.SpannerType))
					break
				}
				if tokenOf[c] == "" {
					name := generatedName(c+"_Tokens", colNames)
					tokenOf[c] = name
					tt.Tokens = append(tt.Tokens, TokenColumn{Name: name, Of: c})
				}
				tokens = append(tokens, tokenOf[c])
			}
			if tokens == nil {
				continue
			}
			name := p.indexName(ix.Name, taken, &warn)
			tt.Indexes = append(tt.Indexes, TargetIndex{Name: name, Table: p.Target, Source: ix.Name, Columns: tokens, Search: true})
			w(WFulltextSearchIndex, ix.Name, fmt.Sprintf("FULLTEXT (%s) → SEARCH INDEX %s", strings.Join(ix.Columns, ", "), name))
			continue
		}
		if bad := p.unindexable(ix.Columns); bad != "" {
			w(WIndexUnindexable, ix.Name, fmt.Sprintf("column %s is %s", bad, p.col(bad).Mapping.SpannerType))
			continue
		}
		if ix.Prefix {
			w(WIndexPrefix, ix.Name, "("+strings.Join(ix.Columns, ", ")+")")
		}
		if size, why := p.maxKeyBytes(ix.Columns); size > SpannerKeyLimit {
			if p.Schema.LargeIndexKeys == LargeKeysSkip {
				w(WIndexKeySize, ix.Name, fmt.Sprintf("%s: skipped (large_index_keys: skip)", why))
				continue
			}
			w(WIndexKeySize, ix.Name, fmt.Sprintf("%s: kept", why))
		}
		t := TargetIndex{Name: p.indexName(ix.Name, taken, &warn), Table: p.Target, Source: ix.Name, Columns: cols, Desc: ix.Desc, Unique: ix.Unique}
		// MySQL's unique keys admit many NULLs; NULL_FILTERED keeps rows
		// with a NULL key part out of the index, as MySQL does.
		t.NullFiltered = ix.Unique && ix.Nullable
		tt.Indexes = append(tt.Indexes, t)
	}
	return tt, warn
}

// indexName is the Spanner name of a MySQL index: Table_index, made valid
// and unique in the database when it is not.
func (p *TablePlan) indexName(mysqlName string, taken map[string]bool, warn *[]Warning) string {
	want := p.Target + "_" + mysqlName
	got := generatedName(want, taken)
	if got != want {
		*warn = append(*warn, newWarning(WNameSanitised, p.Source, "", mysqlName, fmt.Sprintf("index name %s → %s", want, got)))
	}
	return got
}

// maxKeyBytes bounds the size of an index key over src plus the primary
// key (which every Spanner index entry carries), and says which columns
// make it large.
func (p *TablePlan) maxKeyBytes(src []string) (int64, string) {
	var total int64
	var big []string
	add := func(c *ColumnPlan) {
		n := typeMaxBytes(c.Mapping.SpannerType)
		total += n
		if n > 1024 {
			big = append(big, c.Target+" "+c.Mapping.SpannerType)
		}
	}
	for _, s := range src {
		add(p.col(s))
	}
	for _, k := range p.Key {
		if !containsFold(src, p.Cols[k].Source) {
			add(&p.Cols[k])
		}
	}
	return total, strings.Join(big, ", ")
}

// typeMaxBytes bounds one value's size in a key: STRING(n) is up to 4n
// bytes of UTF-8; MAX is unbounded (10 MiB).
func typeMaxBytes(t string) int64 {
	if base, n, ok := sizeOf(normType(t)); ok {
		switch {
		case n < 0:
			return MaxCellBytes
		case base == "STRING":
			return 4 * n
		default:
			return n
		}
	}
	switch normType(t) {
	case "NUMERIC":
		return 24
	case "BOOL":
		return 1
	}
	return 12
}

func (p *TablePlan) col(source string) *ColumnPlan {
	for i := range p.Cols {
		if strings.EqualFold(p.Cols[i].Source, source) {
			return &p.Cols[i]
		}
	}
	return nil
}

func (p *TablePlan) unindexable(src []string) string {
	for _, s := range src {
		t := p.col(s).Mapping.SpannerType
		if strings.HasPrefix(t, "ARRAY") || t == "JSON" {
			return s
		}
	}
	return ""
}

func (p *TablePlan) sourceKey() []string {
	out := make([]string, len(p.Key))
	for i, k := range p.Key {
		out[i] = p.Cols[k].Source
	}
	return out
}

func (p *TablePlan) targetNames(src []string) ([]string, bool) {
	out := make([]string, 0, len(src))
	for _, s := range src {
		c := p.col(s)
		if c == nil {
			return nil, false
		}
		out = append(out, c.Target)
	}
	return out, true
}

// Foreign-key modes of GenerateDDL.
//
// Spanner enforces foreign keys on every write, and the backfill copies
// tables in parallel chunks while the live path writes rows in its own
// order: a child row can arrive before its parent. So by default (defer)
// foreign keys are rendered as ALTER TABLE statements to apply after the
// backfill (`plan --apply --foreign-keys=only`), not with the tables.
// Interleaving is different: the backfill copies an interleaved table's
// parent first, so INTERLEAVE IN PARENT is always part of CREATE TABLE.
const (
	FKDefer  = "defer"  // ALTER TABLE ... ADD CONSTRAINT, listed but not applied with the tables
	FKInline = "inline" // in CREATE TABLE, parents created before children
	FKOnly   = "only"   // only the ALTER TABLE ... ADD CONSTRAINT statements
	FKNone   = "none"
)

// Statement is one DDL statement with the comments printed above it.
type Statement struct {
	Table string `json:"table"`
	Name  string `json:"name,omitempty"` // the constraint's name for foreign keys
	Kind  string `json:"kind"`           // table, index, foreign-key, shadow
	// Deferred statements are printed but not applied with the tables:
	// they run after the backfill.
	Deferred bool     `json:"deferred,omitempty"`
	SQL      string   `json:"sql"`
	Comments []string `json:"comments,omitempty"`
}

// DDL is the target schema for a set of table plans.
type DDL struct {
	Statements []Statement `json:"statements"`
	Warnings   []Warning   `json:"warnings,omitempty"`
	// NotMigrated lists the source schema's objects that do not move
	// (triggers, views, routines, events); the caller fills it in.
	NotMigrated []Object `json:"not_migrated,omitempty"`
	// Quiet hides acknowledged warnings in Render.
	Quiet bool `json:"-"`
}

// SQL lists the statements' SQL in order.
func (d DDL) SQL() []string {
	out := make([]string, len(d.Statements))
	for i, s := range d.Statements {
		out[i] = s.SQL
	}
	return out
}

// Render prints the DDL as a script: the warnings grouped by code (each
// explanation once), the objects that are not migrated, then each
// statement with its comments.
func (d DDL) Render() string {
	var b strings.Builder
	if ws := RenderWarnings(d.Warnings, "-- ", d.Quiet); ws != "" {
		b.WriteString(ws + "\n")
	}
	if nm := RenderNotMigrated(d.NotMigrated, "-- "); nm != "" {
		b.WriteString(nm + "\n")
	}
	deferred := false
	for _, s := range d.Statements {
		if s.Deferred && !deferred {
			deferred = true
			b.WriteString("-- AFTER THE BACKFILL: foreign keys. Spanner enforces them on every write, and the backfill\n" +
				"-- and the live path write rows in no parent-first order; add them once every table is copied:\n" +
				"--   livemigrate plan --spec SPEC --apply --foreign-keys=only\n\n")
		}
		for _, c := range s.Comments {
			fmt.Fprintf(&b, "-- %s\n", c)
		}
		fmt.Fprintf(&b, "%s;\n\n", s.SQL)
	}
	return b.String()
}

// Hotspots flags key columns whose values increase monotonically: an
// AUTO_INCREMENT first key column, or a date/time first key column.
func (p *TablePlan) Hotspots() []Warning {
	if len(p.Key) == 0 {
		return nil
	}
	first := p.Cols[p.Key[0]]
	switch {
	case first.Column.AutoIncrement:
		return []Warning{newWarning(WAutoIncrementHotspot, p.Source, first.Source, "", "")}
	case first.Column.DataType == "datetime" || first.Column.DataType == "timestamp":
		return []Warning{newWarning(WTimeOrderedHotspot, p.Source, first.Source, "", "")}
	}
	return nil
}

// GenerateDDL renders the Spanner schema for plans with the default
// options and the given foreign-key mode.
func GenerateDDL(plans []TablePlan, fkMode string) DDL {
	return GenerateDDLWith(plans, DDLOptions{ForeignKeys: fkMode})
}

// TargetSchema decides every table's indexes, TOKENLIST columns and
// foreign keys, in an order where every parent (referenced or interleave
// parent) comes before its children, with the warnings.
func TargetSchema(plans []TablePlan, o DDLOptions) ([]TableTarget, []Warning) {
	byName := map[string]*TablePlan{}
	taken := map[string]bool{}
	for i := range plans {
		byName[strings.ToLower(plans[i].Source)] = &plans[i]
		taken[strings.ToLower(plans[i].Target)] = true
	}
	fkNames := map[string]bool{}
	var out []TableTarget
	var warn []Warning
	for _, p := range fkOrder(plans, byName) {
		warn = append(warn, p.Hotspots()...)
		warn = append(warn, p.reservedNames()...)
		tt, w := p.targetIndexes(o, taken)
		warn = append(warn, w...)
		for _, fk := range p.Table.ForeignKeys {
			t, w := p.foreignKey(fk, byName, fkNames)
			warn = append(warn, w...)
			if p.Interleave != nil && p.Interleave.ForeignKey == fk.Name {
				continue // the interleave enforces it (its ON UPDATE warning stands)
			}
			if t != nil {
				tt.FKs = append(tt.FKs, *t)
			}
		}
		out = append(out, tt)
	}
	warn = append(warn, interleaveWarnings(plans)...)
	return out, acknowledge(warn, plans)
}

// GenerateDDLWith renders the Spanner schema for plans: tables in an order
// where every parent comes before its children, each table's indexes after
// it, and the warnings an operator must read.
func GenerateDDLWith(plans []TablePlan, o DDLOptions) DDL {
	if o.ForeignKeys == "" {
		o.ForeignKeys = FKDefer
	}
	targets, warn := TargetSchema(plans, o)
	d := DDL{Warnings: warn}
	codes := map[string][]string{}
	for _, w := range warn {
		if w.Column != "" {
			codes[w.Table] = append(codes[w.Table], fmt.Sprintf("warning [%s] on %s (see WARNINGS)", w.Code, w.Column))
		}
	}
	created := map[string]bool{}
	var deferred []Statement
	for _, tt := range targets {
		p := tt.Plan
		var inline []string
		comments := append([]string{}, codes[p.Source]...)
		if il := p.Interleave; il != nil {
			comments = append(comments, fmt.Sprintf("interleaved in %s (foreign key %s): the backfill copies %s first", il.ParentTarget, il.ForeignKey, il.ParentTarget))
		}
		for _, c := range p.Cols {
			if c.Column.Generated {
				comments = append(comments, fmt.Sprintf("%s is generated in MySQL (%s); it is copied as a plain column", c.Target, c.Column.Expression))
			}
			if c.Mapping.Note != "" && isLossyNote(c.Mapping) {
				comments = append(comments, fmt.Sprintf("%s: %s", c.Target, c.Mapping.Note))
			}
		}
		for _, fk := range tt.FKs {
			if o.ForeignKeys == FKNone {
				break
			}
			if o.ForeignKeys == FKInline && created[strings.ToLower(refSource(p, fk))] {
				inline = append(inline, fk.clause())
				continue
			}
			deferred = append(deferred, Statement{Table: p.Source, Name: fk.Name, Kind: "foreign-key", Deferred: o.ForeignKeys == FKDefer,
				SQL: fmt.Sprintf("ALTER TABLE %s ADD %s", QuoteSpanner(p.Target), fk.clause())})
		}
		created[strings.ToLower(p.Source)] = true
		if o.ForeignKeys == FKOnly {
			continue
		}
		d.Statements = append(d.Statements, Statement{Table: p.Source, Kind: "table", SQL: p.createTable(inline, tt.Tokens), Comments: comments})
		for _, ix := range tt.Indexes {
			d.Statements = append(d.Statements, Statement{Table: p.Source, Name: ix.Name, Kind: "index", SQL: ix.SQL()})
		}
	}
	d.Statements = append(d.Statements, deferred...)
	return d
}

// refSource is the source table a planned foreign key references.
func refSource(p *TablePlan, fk TargetFK) string {
	for _, f := range p.Table.ForeignKeys {
		if f.Name == fk.Source {
			return f.RefTable
		}
	}
	return ""
}

// isLossyNote reports mappings worth a comment in the DDL: those that change
// a value's representation or dead-letter some values.
func isLossyNote(m Mapping) bool {
	switch m.Kind {
	case KindDecimalString, KindUint64Numeric, KindUint64String, KindSetArray, KindBitBytes, KindBitInt64,
		KindDatetime, KindTextString, KindJSON, KindBool:
		return true
	}
	return strings.HasPrefix(m.Note, "TIME") || strings.HasPrefix(m.Note, "spatial") || strings.Contains(m.Note, "PII")
}

// foreignKey decides one foreign key, or nil with a warning when Spanner
// cannot express it.
func (p *TablePlan) foreignKey(fk ForeignKey, byName map[string]*TablePlan, taken map[string]bool) (*TargetFK, []Warning) {
	var warn []Warning
	parent, ok := byName[strings.ToLower(fk.RefTable)]
	if !ok {
		return nil, []Warning{newWarning(WFKParentNotInSpec, p.Source, "", fk.Name, "references "+fk.RefTable)}
	}
	cols, ok1 := p.targetNames(fk.Columns)
	refs, ok2 := parent.targetNames(fk.RefColumns)
	if !ok1 || !ok2 {
		return nil, []Warning{newWarning(WFKColumnsNotCopied, p.Source, "", fk.Name, "("+strings.Join(fk.Columns, ", ")+")")}
	}
	name := generatedName(fk.Name, taken)
	if name != fk.Name {
		warn = append(warn, newWarning(WNameSanitised, p.Source, "", fk.Name, fmt.Sprintf("constraint name %s → %s", fk.Name, name)))
	}
	t := &TargetFK{Name: name, Table: p.Target, Source: fk.Name, Columns: cols, RefTable: parent.Target, RefColumns: refs, OnDelete: "NO ACTION"}
	switch strings.ToUpper(fk.OnDelete) {
	case "CASCADE":
		t.OnDelete = "CASCADE"
	case "SET NULL", "SET DEFAULT":
		warn = append(warn, newWarning(WFKOnDeleteSetNull, p.Source, "", fk.Name, "ON DELETE "+strings.ToUpper(fk.OnDelete)))
	}
	if u := strings.ToUpper(fk.OnUpdate); u == "CASCADE" || u == "SET NULL" || u == "SET DEFAULT" {
		warn = append(warn, newWarning(WFKOnUpdate, p.Source, "", fk.Name, "ON UPDATE "+u))
	}
	return t, warn
}

// fkOrder sorts plans so referenced tables and interleave parents come
// before the tables that reference them (Kahn's algorithm, stable in spec
// order). Tables in a cycle keep spec order; their back-references become
// ALTER statements.
func fkOrder(plans []TablePlan, byName map[string]*TablePlan) []*TablePlan {
	deps := map[string]map[string]bool{}
	for i := range plans {
		p := &plans[i]
		name := strings.ToLower(p.Source)
		deps[name] = map[string]bool{}
		refs := []string{}
		for _, fk := range p.Table.ForeignKeys {
			refs = append(refs, fk.RefTable)
		}
		if p.Interleave != nil {
			refs = append(refs, p.Interleave.Parent)
		}
		for _, r := range refs {
			ref := strings.ToLower(r)
			if _, ok := byName[ref]; ok && ref != name {
				deps[name][ref] = true
			}
		}
	}
	var out []*TablePlan
	done := map[string]bool{}
	for len(out) < len(plans) {
		progress := false
		for i := range plans {
			name := strings.ToLower(plans[i].Source)
			if done[name] {
				continue
			}
			ready := true
			for ref := range deps[name] {
				if !done[ref] {
					ready = false
				}
			}
			if ready {
				out, done[name], progress = append(out, &plans[i]), true, true
				break // rescan from the top: keep spec order where possible
			}
		}
		if !progress { // a cycle: take the first remaining table
			for i := range plans {
				if name := strings.ToLower(plans[i].Source); !done[name] {
					out, done[name] = append(out, &plans[i]), true
					break
				}
			}
		}
	}
	return out
}
