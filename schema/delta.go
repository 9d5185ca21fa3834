package schema

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"cloud.google.com/go/spanner"
	"google.golang.org/api/iterator"
)

// SpannerColumn is one column of an existing Spanner table.
type SpannerColumn struct {
	Name       string `json:"name"`
	Type       string `json:"type"` // SPANNER_TYPE, e.g. STRING(255)
	Nullable   bool   `json:"nullable"`
	HasDefault bool   `json:"has_default,omitempty"`
	Generated  bool   `json:"generated,omitempty"`
}

// SpannerTable is one existing Spanner table.
type SpannerTable struct {
	Name       string          `json:"name"`
	Columns    []SpannerColumn `json:"columns"`
	PrimaryKey []string        `json:"primary_key"`
	// Parent is the table it is interleaved in ("" when none), OnDelete
	// the interleave's action (CASCADE or NO ACTION).
	Parent   string         `json:"parent,omitempty"`
	OnDelete string         `json:"on_delete,omitempty"`
	Indexes  []SpannerIndex `json:"indexes,omitempty"`
	FKs      []SpannerFK    `json:"foreign_keys,omitempty"`
}

// SpannerIndex is one existing secondary or search index (not the ones
// Spanner manages for foreign keys).
type SpannerIndex struct {
	Name         string   `json:"name"`
	Columns      []string `json:"columns"`
	Desc         []bool   `json:"desc,omitempty"`
	Unique       bool     `json:"unique,omitempty"`
	NullFiltered bool     `json:"null_filtered,omitempty"`
	Search       bool     `json:"search,omitempty"` // over TOKENLIST columns
}

// SpannerFK is one existing foreign key.
type SpannerFK struct {
	Name       string   `json:"name"`
	Columns    []string `json:"columns"`
	RefTable   string   `json:"ref_table"`
	RefColumns []string `json:"ref_columns"`
	OnDelete   string   `json:"on_delete"`
}

func (t *SpannerTable) column(name string) *SpannerColumn {
	for i := range t.Columns {
		if strings.EqualFold(t.Columns[i].Name, name) {
			return &t.Columns[i]
		}
	}
	return nil
}

// ReadSpanner reads the user tables of a Spanner database from its
// INFORMATION_SCHEMA: columns with their SPANNER_TYPE and the primary key.
func ReadSpanner(ctx context.Context, c *spanner.Client) ([]SpannerTable, error) {
	ro := c.ReadOnlyTransaction()
	defer ro.Close()
	byName := map[string]*SpannerTable{}
	var order []string
	err := query(ctx, ro, `SELECT TABLE_NAME, COLUMN_NAME, SPANNER_TYPE, IS_NULLABLE, COLUMN_DEFAULT IS NOT NULL, IS_GENERATED
		FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = '' ORDER BY TABLE_NAME, ORDINAL_POSITION`, func(r *spanner.Row) error {
		var tn, cn, typ, nullable, gen string
		var hasDef bool
		if err := r.Columns(&tn, &cn, &typ, &nullable, &hasDef, &gen); err != nil {
			return err
		}
		t, ok := byName[tn]
		if !ok {
			t = &SpannerTable{Name: tn}
			byName[tn] = t
			order = append(order, tn)
		}
		t.Columns = append(t.Columns, SpannerColumn{Name: cn, Type: typ, Nullable: nullable == "YES", HasDefault: hasDef, Generated: gen == "ALWAYS"})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read Spanner INFORMATION_SCHEMA.COLUMNS: %w", err)
	}
	err = query(ctx, ro, `SELECT TABLE_NAME, COLUMN_NAME FROM INFORMATION_SCHEMA.INDEX_COLUMNS
		WHERE TABLE_SCHEMA = '' AND INDEX_TYPE = 'PRIMARY_KEY' ORDER BY TABLE_NAME, ORDINAL_POSITION`, func(r *spanner.Row) error {
		var tn, cn string
		if err := r.Columns(&tn, &cn); err != nil {
			return err
		}
		if t, ok := byName[tn]; ok {
			t.PrimaryKey = append(t.PrimaryKey, cn)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read Spanner INFORMATION_SCHEMA.INDEX_COLUMNS: %w", err)
	}
	if err := readStructure(ctx, ro, byName); err != nil {
		return nil, err
	}
	out := make([]SpannerTable, 0, len(order))
	for _, n := range order {
		out = append(out, *byName[n])
	}
	return out, nil
}

// readStructure adds interleaving, secondary and search indexes and
// foreign keys to the tables read from INFORMATION_SCHEMA.COLUMNS.
func readStructure(ctx context.Context, ro *spanner.ReadOnlyTransaction, byName map[string]*SpannerTable) error {
	err := query(ctx, ro, `SELECT TABLE_NAME, COALESCE(PARENT_TABLE_NAME, ''), COALESCE(ON_DELETE_ACTION, '')
		FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = ''`, func(r *spanner.Row) error {
		var tn, parent, onDel string
		if err := r.Columns(&tn, &parent, &onDel); err != nil {
			return err
		}
		if t, ok := byName[tn]; ok {
			t.Parent, t.OnDelete = parent, onDel
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read Spanner INFORMATION_SCHEMA.TABLES: %w", err)
	}
	type ixKey struct{ table, name string }
	indexes := map[ixKey]*SpannerIndex{}
	var ixOrder []ixKey
	err = query(ctx, ro, `SELECT TABLE_NAME, INDEX_NAME, IS_UNIQUE, IS_NULL_FILTERED FROM INFORMATION_SCHEMA.INDEXES
		WHERE TABLE_SCHEMA = '' AND INDEX_TYPE != 'PRIMARY_KEY' AND NOT SPANNER_IS_MANAGED ORDER BY TABLE_NAME, INDEX_NAME`, func(r *spanner.Row) error {
		var tn, name string
		var unique, nf bool
		if err := r.Columns(&tn, &name, &unique, &nf); err != nil {
			return err
		}
		k := ixKey{tn, name}
		indexes[k] = &SpannerIndex{Name: name, Unique: unique, NullFiltered: nf}
		ixOrder = append(ixOrder, k)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read Spanner INFORMATION_SCHEMA.INDEXES: %w", err)
	}
	// Every index's columns, and every unique constraint's (for the
	// columns a foreign key references).
	constraintCols := map[string][]string{}
	constraintTable := map[string]string{}
	err = query(ctx, ro, `SELECT c.TABLE_NAME, c.INDEX_NAME, c.COLUMN_NAME, COALESCE(c.COLUMN_ORDERING, 'ASC'), t.SPANNER_TYPE
		FROM INFORMATION_SCHEMA.INDEX_COLUMNS c JOIN INFORMATION_SCHEMA.COLUMNS t
		  ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME AND t.COLUMN_NAME = c.COLUMN_NAME
		WHERE c.TABLE_SCHEMA = '' AND c.ORDINAL_POSITION IS NOT NULL ORDER BY c.TABLE_NAME, c.INDEX_NAME, c.ORDINAL_POSITION`, func(r *spanner.Row) error {
		var tn, name, col, ordering, typ string
		if err := r.Columns(&tn, &name, &col, &ordering, &typ); err != nil {
			return err
		}
		if name == "PRIMARY_KEY" {
			name = "PK_" + tn
		}
		constraintCols[name] = append(constraintCols[name], col)
		constraintTable[name] = tn
		if ix, ok := indexes[ixKey{tn, name}]; ok {
			ix.Columns = append(ix.Columns, col)
			ix.Desc = append(ix.Desc, ordering == "DESC")
			ix.Search = ix.Search || typ == "TOKENLIST"
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read Spanner INFORMATION_SCHEMA.INDEX_COLUMNS: %w", err)
	}
	for _, k := range ixOrder {
		if t, ok := byName[k.table]; ok {
			ix := indexes[k]
			if !anyTrue(ix.Desc) {
				ix.Desc = nil
			}
			t.Indexes = append(t.Indexes, *ix)
		}
	}
	type fkInfo struct {
		unique, onDelete string
	}
	fks := map[string]fkInfo{}
	err = query(ctx, ro, `SELECT CONSTRAINT_NAME, UNIQUE_CONSTRAINT_NAME, DELETE_RULE FROM INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS
		WHERE CONSTRAINT_SCHEMA = ''`, func(r *spanner.Row) error {
		var name, unique, del string
		if err := r.Columns(&name, &unique, &del); err != nil {
			return err
		}
		fks[name] = fkInfo{unique, del}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read Spanner INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS: %w", err)
	}
	byFK := map[string]*SpannerFK{}
	var fkOrder []string
	var fkTable []string
	err = query(ctx, ro, `SELECT CONSTRAINT_NAME, TABLE_NAME, COLUMN_NAME, POSITION_IN_UNIQUE_CONSTRAINT FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE
		WHERE CONSTRAINT_SCHEMA = '' AND POSITION_IN_UNIQUE_CONSTRAINT IS NOT NULL ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION`, func(r *spanner.Row) error {
		var name, tn, col string
		var pos int64
		if err := r.Columns(&name, &tn, &col, &pos); err != nil {
			return err
		}
		info, ok := fks[name]
		if !ok {
			return nil
		}
		fk, ok := byFK[name]
		if !ok {
			fk = &SpannerFK{Name: name, OnDelete: info.onDelete, RefTable: constraintTable[info.unique]}
			byFK[name] = fk
			fkOrder, fkTable = append(fkOrder, name), append(fkTable, tn)
		}
		fk.Columns = append(fk.Columns, col)
		ref := ""
		if refs := constraintCols[info.unique]; pos >= 1 && int(pos) <= len(refs) {
			ref = refs[pos-1]
		}
		fk.RefColumns = append(fk.RefColumns, ref)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read Spanner INFORMATION_SCHEMA.KEY_COLUMN_USAGE: %w", err)
	}
	for i, n := range fkOrder {
		if t, ok := byName[fkTable[i]]; ok {
			t.FKs = append(t.FKs, *byFK[n])
		}
	}
	return nil
}

func anyTrue(bs []bool) bool {
	for _, b := range bs {
		if b {
			return true
		}
	}
	return false
}

func query(ctx context.Context, ro *spanner.ReadOnlyTransaction, sql string, f func(*spanner.Row) error) error {
	it := ro.Query(ctx, spanner.Statement{SQL: sql})
	defer it.Stop()
	for {
		r, err := it.Next()
		if err == iterator.Done {
			return nil
		}
		if err != nil {
			return err
		}
		if err := f(r); err != nil {
			return err
		}
	}
}

// Delta classes.
const (
	Compatible = "compatible" // the backfill writes it as planned
	Lossy      = "lossy"      // needs a conversion (a spec override); the detail says which
	Blocking   = "blocking"   // the backfill cannot write it until the schema changes
)

// Finding is one line of the delta report.
type Finding struct {
	Table  string `json:"table"`
	Column string `json:"column,omitempty"`
	Object string `json:"object,omitempty"` // index or foreign-key name
	Class  string `json:"class"`
	// What is column, missing-column, extra-column, missing-table,
	// extra-table, primary-key, nullability, index, missing-index,
	// extra-index, foreign-key, missing-foreign-key, extra-foreign-key,
	// interleave, missing-interleave.
	What    string `json:"what"`
	MySQL   string `json:"mysql,omitempty"`
	Planned string `json:"planned,omitempty"`
	Spanner string `json:"spanner,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// Delta compares the planned target schema with an existing one.
type Delta struct {
	Findings   []Finding `json:"findings"`
	Compatible int       `json:"compatible"`
	Lossy      int       `json:"lossy"`
	Blocking   int       `json:"blocking"`
}

// Compare is CompareWith with the default options.
func Compare(plans []TablePlan, existing []SpannerTable) Delta {
	return CompareWith(plans, existing, DDLOptions{})
}

// CompareWith classifies everything the planned DDL creates against the
// Spanner schema. Columns: same type (or a wider STRING/BYTES) is
// compatible; a type the converter can produce through a spec override is
// lossy, with the override to set; anything else, a missing table or
// column, a different primary key, a NOT NULL Spanner column fed by a
// nullable MySQL column, or an extra NOT NULL Spanner column without a
// default is blocking. Indexes, foreign keys and interleaving: see
// compareIndexes, compareFKs and compareInterleave.
func CompareWith(plans []TablePlan, existing []SpannerTable, o DDLOptions) Delta {
	var d Delta
	add := func(f Finding) {
		d.Findings = append(d.Findings, f)
		switch f.Class {
		case Compatible:
			d.Compatible++
		case Lossy:
			d.Lossy++
		case Blocking:
			d.Blocking++
		}
	}
	byName := map[string]*SpannerTable{}
	for i := range existing {
		byName[strings.ToLower(existing[i].Name)] = &existing[i]
	}
	planned := map[string]bool{}
	targets, _ := TargetSchema(plans, o)
	tts := map[*TablePlan]TableTarget{}
	for _, tt := range targets {
		tts[tt.Plan] = tt
	}
	for i := range plans {
		p := &plans[i]
		planned[strings.ToLower(p.Target)] = true
		st, ok := byName[strings.ToLower(p.Target)]
		if !ok {
			add(Finding{Table: p.Target, Class: Blocking, What: "missing-table", MySQL: p.Source,
				Detail: "table does not exist in Spanner; create it with `livemigrate plan --apply`"})
			continue
		}
		if want := p.TargetKey(); !EqualFoldList(want, st.PrimaryKey) {
			add(Finding{Table: p.Target, Class: Blocking, What: "primary-key",
				Planned: "(" + strings.Join(want, ", ") + ")", Spanner: "(" + strings.Join(st.PrimaryKey, ", ") + ")",
				Detail: "primary keys differ; the backfill deduplicates by the MySQL key, so the Spanner key must be the same columns in the same order"})
		}
		for _, c := range p.Cols {
			sc := st.column(c.Target)
			if sc == nil {
				add(Finding{Table: p.Target, Column: c.Target, Class: Blocking, What: "missing-column", MySQL: c.Column.ColumnType,
					Planned: c.Mapping.SpannerType, Detail: "column does not exist in Spanner; add it, or exclude it with columns.exclude"})
				continue
			}
			f := classifyColumn(c, sc)
			f.Table = p.Target
			add(f)
			if !sc.Nullable && c.Column.Nullable {
				add(Finding{Table: p.Target, Column: c.Target, Class: Blocking, What: "nullability", MySQL: c.Column.ColumnType + " NULL",
					Spanner: sc.Type + " NOT NULL", Detail: "Spanner column is NOT NULL but MySQL allows NULL; a NULL row would fail its commit: drop NOT NULL in Spanner or make the MySQL column NOT NULL"})
			}
		}
		compareInterleave(p, st, add)
		compareIndexes(p, tts[p], st, add)
		compareFKs(p, tts[p], st, o, add)
		for _, sc := range st.Columns {
			if p.targetCol(sc.Name) != nil {
				continue
			}
			f := Finding{Table: p.Target, Column: sc.Name, Class: Compatible, What: "extra-column", Spanner: sc.Type,
				Detail: "not in MySQL; the backfill leaves it NULL or at its default"}
			if !sc.Nullable && !sc.HasDefault && !sc.Generated {
				f.Class, f.Detail = Blocking, "not in MySQL and NOT NULL without a default: every backfilled insert would fail; give it a DEFAULT or drop NOT NULL"
			}
			add(f)
		}
	}
	for _, st := range existing {
		if !planned[strings.ToLower(st.Name)] {
			add(Finding{Table: st.Name, Class: Compatible, What: "extra-table", Detail: "not in the spec; left alone"})
		}
	}
	return d
}

func (p *TablePlan) targetCol(name string) *ColumnPlan {
	for i := range p.Cols {
		if strings.EqualFold(p.Cols[i].Target, name) {
			return &p.Cols[i]
		}
	}
	return nil
}

var sizedType = regexp.MustCompile(`^(STRING|BYTES)\((MAX|\d+)\)$`)

// normType upper-cases and drops spaces: "string(255)" → "STRING(255)".
func normType(t string) string { return strings.ToUpper(strings.ReplaceAll(t, " ", "")) }

// sizeOf returns a STRING/BYTES type's base and length (-1 for MAX).
func sizeOf(t string) (string, int64, bool) {
	m := sizedType.FindStringSubmatch(t)
	if m == nil {
		return "", 0, false
	}
	if m[2] == "MAX" {
		return m[1], -1, true
	}
	n, _ := strconv.ParseInt(m[2], 10, 64)
	return m[1], n, true
}

func classifyColumn(c ColumnPlan, sc *SpannerColumn) Finding {
	f := Finding{Column: c.Target, What: "column", MySQL: c.Column.ColumnType, Planned: c.Mapping.SpannerType, Spanner: sc.Type}
	p, a := normType(c.Mapping.SpannerType), normType(sc.Type)
	if p == a {
		f.Class = Compatible
		return f
	}
	pb, pn, pok := sizeOf(p)
	ab, an, aok := sizeOf(a)
	if pok && aok && pb == ab {
		if an == -1 || (pn != -1 && an >= pn) {
			f.Class, f.Detail = Compatible, "Spanner column is wider than planned"
			return f
		}
		f.Class = Lossy
		f.Detail = fmt.Sprintf("Spanner column is narrower than planned: longer values would fail their commit; set columns.overrides.%s.type: %s so they are dead-lettered instead", c.Source, sc.Type)
		return f
	}
	opts := c.Options
	opts.Override = sc.Type
	if m, err := Map(c.Column, opts); err == nil {
		f.Class = Lossy
		f.Detail = fmt.Sprintf("needs conversion %s → %s (%s); set columns.overrides.%s.type: %s", c.Mapping.SpannerType, sc.Type, m.Note, c.Source, sc.Type)
		return f
	}
	f.Class = Blocking
	f.Detail = fmt.Sprintf("MySQL %s cannot be written to Spanner %s without loss; change the Spanner column to %s or exclude the column", c.Column.ColumnType, sc.Type, c.Mapping.SpannerType)
	return f
}

// SortFindings orders findings blocking first, then lossy, then by table
// and column, for the human report.
func SortFindings(fs []Finding) []Finding {
	out := append([]Finding(nil), fs...)
	rank := map[string]int{Blocking: 0, Lossy: 1, Compatible: 2}
	sort.SliceStable(out, func(i, j int) bool {
		if rank[out[i].Class] != rank[out[j].Class] {
			return rank[out[i].Class] < rank[out[j].Class]
		}
		if out[i].Table != out[j].Table {
			return out[i].Table < out[j].Table
		}
		if out[i].Column != out[j].Column {
			return out[i].Column < out[j].Column
		}
		return out[i].Object < out[j].Object
	})
	return out
}
