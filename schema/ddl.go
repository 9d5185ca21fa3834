package schema

import (
	"fmt"
	"strings"
)

// QuoteSpanner quotes a Spanner (GoogleSQL) identifier.
func QuoteSpanner(s string) string { return "`" + strings.ReplaceAll(s, "`", "\\`") + "`" }

// CreateTableDDL renders the Spanner CREATE TABLE for a plan, without
// foreign keys.
func (p *TablePlan) CreateTableDDL() string { return p.createTable(nil) }

func (p *TablePlan) createTable(fks []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (\n", QuoteSpanner(p.Target))
	for _, c := range p.Cols {
		fmt.Fprintf(&b, "  %s %s", QuoteSpanner(c.Target), c.Mapping.SpannerType)
		if !c.Column.Nullable {
			b.WriteString(" NOT NULL")
		}
		b.WriteString(",\n")
	}
	for _, fk := range fks {
		fmt.Fprintf(&b, "  %s,\n", fk)
	}
	fmt.Fprintf(&b, ") PRIMARY KEY (%s)", strings.Join(quoteAll(p.TargetKey()), ", "))
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
// secondary indexes whose columns all move (the chunk key's own index is
// the primary key and is skipped, and so are indexes Spanner cannot build).
func (p *TablePlan) IndexDDL() []string {
	stmts, _ := p.indexes()
	return stmts
}

func (p *TablePlan) indexes() ([]string, []Warning) {
	var out []string
	var warn []Warning
	for _, ix := range p.Table.Indexes {
		cols, ok := p.targetNames(ix.Columns)
		if EqualFoldList(ix.Columns, p.sourceKey()) {
			continue
		}
		if !ok {
			warn = append(warn, Warning{Table: p.Source, Kind: "index", Message: fmt.Sprintf("index %s skipped: not all of its columns are copied", ix.Name)})
			continue
		}
		if bad := p.unindexable(ix.Columns); bad != "" {
			warn = append(warn, Warning{Table: p.Source, Kind: "index", Message: fmt.Sprintf("index %s skipped: column %s is %s, which Spanner cannot index", ix.Name, bad, p.col(bad).Mapping.SpannerType)})
			continue
		}
		kind := "INDEX"
		if ix.Unique {
			// MySQL's unique keys admit many NULLs; NULL_FILTERED keeps
			// rows with a NULL key part out of the index, as MySQL does.
			kind = "UNIQUE NULL_FILTERED INDEX"
			if !ix.Nullable {
				kind = "UNIQUE INDEX"
			}
		}
		if ix.Prefix {
			warn = append(warn, Warning{Table: p.Source, Kind: "index", Message: fmt.Sprintf("index %s uses a column prefix in MySQL; Spanner indexes the whole value", ix.Name)})
		}
		out = append(out, fmt.Sprintf("CREATE %s %s ON %s (%s)", kind, QuoteSpanner(p.Target+"_"+ix.Name), QuoteSpanner(p.Target), strings.Join(quoteAll(cols), ", ")))
	}
	return out, warn
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

// Warning is something the operator should know about the target schema:
// a write hotspot, a foreign-key rule Spanner lacks, a skipped index.
type Warning struct {
	Table   string `json:"table"`
	Column  string `json:"column,omitempty"`
	Kind    string `json:"kind"` // hotspot, foreign-key, index, generated, mapping
	Message string `json:"message"`
}

func (w Warning) String() string {
	col := ""
	if w.Column != "" {
		col = "." + w.Column
	}
	return fmt.Sprintf("%s%s [%s]: %s", w.Table, col, w.Kind, w.Message)
}

// Foreign-key modes of GenerateDDL.
//
// Spanner enforces foreign keys on every write, and the backfill copies
// tables in parallel chunks while the live path writes rows in its own
// order: a child row can arrive before its parent. So by default (defer)
// foreign keys are rendered as ALTER TABLE statements to apply after the
// backfill (`plan --apply --foreign-keys=only`), not with the tables.
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
}

// SQL lists the statements' SQL in order.
func (d DDL) SQL() []string {
	out := make([]string, len(d.Statements))
	for i, s := range d.Statements {
		out[i] = s.SQL
	}
	return out
}

// Render prints the DDL as a script: warnings as a comment block, then each
// statement with its comments.
func (d DDL) Render() string {
	var b strings.Builder
	if len(d.Warnings) > 0 {
		b.WriteString("-- WARNINGS\n")
		for _, w := range d.Warnings {
			fmt.Fprintf(&b, "-- %s\n", w)
		}
		b.WriteString("\n")
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

// hotspotRemedy is the advice printed for a monotonically increasing key.
const hotspotRemedy = "every new row lands at the end of the key space, so inserts hit one Spanner split (a write hotspot). " +
	"Remedy for new rows: a bit-reversed sequence (CREATE SEQUENCE s OPTIONS (sequence_kind = 'bit_reversed_positive') and DEFAULT (GET_NEXT_SEQUENCE_VALUE(SEQUENCE s))), " +
	"a UUID key (GENERATE_UUID()), or a shard prefix key column (e.g. ShardId INT64 AS (MOD(FARM_FINGERPRINT(CAST(id AS STRING)), 16)) STORED, first in the primary key)"

// Hotspots flags key columns whose values increase monotonically: an
// AUTO_INCREMENT first key column, or a date/time first key column.
func (p *TablePlan) Hotspots() []Warning {
	if len(p.Key) == 0 {
		return nil
	}
	first := p.Cols[p.Key[0]]
	var why string
	switch {
	case first.Column.AutoIncrement:
		why = "AUTO_INCREMENT first primary-key column: "
	case first.Column.DataType == "datetime" || first.Column.DataType == "timestamp":
		why = "time-ordered first primary-key column: "
	default:
		return nil
	}
	return []Warning{{Table: p.Source, Column: first.Source, Kind: "hotspot", Message: why + hotspotRemedy}}
}

// GenerateDDL renders the Spanner schema for plans: tables in an order where
// every foreign key's parent comes before its child, each table's indexes
// after it, and the warnings an operator must read.
func GenerateDDL(plans []TablePlan, fkMode string) DDL {
	if fkMode == "" {
		fkMode = FKDefer
	}
	var d DDL
	byName := map[string]*TablePlan{}
	for i := range plans {
		byName[strings.ToLower(plans[i].Source)] = &plans[i]
	}
	order := fkOrder(plans, byName)
	created := map[string]bool{}
	var deferred []Statement
	for _, p := range order {
		var inline []string
		var comments []string
		for _, w := range p.Hotspots() {
			d.Warnings = append(d.Warnings, w)
			comments = append(comments, "WARNING hotspot on "+w.Column+": "+w.Message)
		}
		for _, c := range p.Cols {
			if c.Column.Generated {
				comments = append(comments, fmt.Sprintf("%s is generated in MySQL (%s); it is copied as a plain column", c.Target, c.Column.Expression))
			}
			if c.Mapping.Note != "" && isLossyNote(c.Mapping) {
				comments = append(comments, fmt.Sprintf("%s: %s", c.Target, c.Mapping.Note))
			}
		}
		for _, fk := range p.Table.ForeignKeys {
			clause, w := p.foreignKey(fk, byName)
			d.Warnings = append(d.Warnings, w...)
			if clause == "" || fkMode == FKNone {
				continue
			}
			parentDone := created[strings.ToLower(fk.RefTable)]
			if fkMode == FKInline && parentDone {
				inline = append(inline, clause)
				continue
			}
			deferred = append(deferred, Statement{Table: p.Source, Name: fk.Name, Kind: "foreign-key", Deferred: fkMode == FKDefer,
				SQL: fmt.Sprintf("ALTER TABLE %s ADD %s", QuoteSpanner(p.Target), clause)})
		}
		created[strings.ToLower(p.Source)] = true
		ix, w := p.indexes()
		d.Warnings = append(d.Warnings, w...)
		if fkMode == FKOnly {
			continue
		}
		d.Statements = append(d.Statements, Statement{Table: p.Source, Kind: "table", SQL: p.createTable(inline), Comments: comments})
		for _, s := range ix {
			d.Statements = append(d.Statements, Statement{Table: p.Source, Kind: "index", SQL: s})
		}
	}
	d.Statements = append(d.Statements, deferred...)
	return d
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

// foreignKey renders one foreign key as a constraint clause, or "" with a
// warning when Spanner cannot express it.
func (p *TablePlan) foreignKey(fk ForeignKey, byName map[string]*TablePlan) (string, []Warning) {
	var warn []Warning
	parent, ok := byName[strings.ToLower(fk.RefTable)]
	if !ok {
		return "", []Warning{{Table: p.Source, Kind: "foreign-key", Message: fmt.Sprintf("foreign key %s skipped: referenced table %s is not in the spec", fk.Name, fk.RefTable)}}
	}
	cols, ok1 := p.targetNames(fk.Columns)
	refs, ok2 := parent.targetNames(fk.RefColumns)
	if !ok1 || !ok2 {
		return "", []Warning{{Table: p.Source, Kind: "foreign-key", Message: fmt.Sprintf("foreign key %s skipped: not all of its columns are copied", fk.Name)}}
	}
	clause := fmt.Sprintf("CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)", QuoteSpanner(fk.Name),
		strings.Join(quoteAll(cols), ", "), QuoteSpanner(parent.Target), strings.Join(quoteAll(refs), ", "))
	switch strings.ToUpper(fk.OnDelete) {
	case "CASCADE":
		clause += " ON DELETE CASCADE"
	case "SET NULL", "SET DEFAULT":
		warn = append(warn, Warning{Table: p.Source, Kind: "foreign-key", Message: fmt.Sprintf("foreign key %s: ON DELETE %s has no Spanner equivalent; created as ON DELETE NO ACTION", fk.Name, fk.OnDelete)})
	}
	if u := strings.ToUpper(fk.OnUpdate); u == "CASCADE" || u == "SET NULL" || u == "SET DEFAULT" {
		warn = append(warn, Warning{Table: p.Source, Kind: "foreign-key", Message: fmt.Sprintf("foreign key %s: ON UPDATE %s has no Spanner equivalent (Spanner key updates are delete+insert)", fk.Name, fk.OnUpdate)})
	}
	return clause, warn
}

// fkOrder sorts plans so referenced tables come before the tables that
// reference them (Kahn's algorithm, stable in spec order). Tables in a
// cycle keep spec order; their back-references become ALTER statements.
func fkOrder(plans []TablePlan, byName map[string]*TablePlan) []*TablePlan {
	deps := map[string]map[string]bool{}
	for i := range plans {
		p := &plans[i]
		name := strings.ToLower(p.Source)
		deps[name] = map[string]bool{}
		for _, fk := range p.Table.ForeignKeys {
			ref := strings.ToLower(fk.RefTable)
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
