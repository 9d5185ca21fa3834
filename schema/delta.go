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
	out := make([]SpannerTable, 0, len(order))
	for _, n := range order {
		out = append(out, *byName[n])
	}
	return out, nil
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
	Table   string `json:"table"`
	Column  string `json:"column,omitempty"`
	Class   string `json:"class"`
	What    string `json:"what"` // column, missing-column, extra-column, missing-table, extra-table, primary-key, nullability
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

// Compare classifies every planned table and column against the Spanner
// schema: same type (or a wider STRING/BYTES) is compatible; a type the
// converter can produce through a spec override is lossy, with the override
// to set; anything else, a missing table or column, a different primary key,
// a NOT NULL Spanner column fed by a nullable MySQL column, or an extra NOT
// NULL Spanner column without a default is blocking.
func Compare(plans []TablePlan, existing []SpannerTable) Delta {
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
		return out[i].Column < out[j].Column
	})
	return out
}
