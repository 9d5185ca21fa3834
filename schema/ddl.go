package schema

import (
	"fmt"
	"strings"
)

// QuoteSpanner quotes a Spanner (GoogleSQL) identifier.
func QuoteSpanner(s string) string { return "`" + strings.ReplaceAll(s, "`", "\\`") + "`" }

// CreateTableDDL renders the Spanner CREATE TABLE for a plan.
func (p *TablePlan) CreateTableDDL() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (\n", QuoteSpanner(p.Target))
	for _, c := range p.Cols {
		fmt.Fprintf(&b, "  %s %s", QuoteSpanner(c.Target), c.Mapping.SpannerType)
		if !c.Column.Nullable {
			b.WriteString(" NOT NULL")
		}
		b.WriteString(",\n")
	}
	keys := make([]string, len(p.Key))
	for i, k := range p.Key {
		keys[i] = QuoteSpanner(p.Cols[k].Target)
	}
	fmt.Fprintf(&b, ") PRIMARY KEY (%s)", strings.Join(keys, ", "))
	return b.String()
}

// IndexDDL renders the Spanner indexes for the table's MySQL unique and
// secondary indexes whose columns all move (the chunk key's own index is
// the primary key and is skipped).
func (p *TablePlan) IndexDDL() []string {
	var out []string
	for _, ix := range p.Table.Indexes {
		cols, ok := p.targetNames(ix.Columns)
		if !ok || equalFoldList(ix.Columns, p.sourceKey()) {
			continue
		}
		kind := "INDEX"
		if ix.Unique {
			kind = "UNIQUE NULL_FILTERED INDEX"
			if !ix.Nullable {
				kind = "UNIQUE INDEX"
			}
		}
		quoted := make([]string, len(cols))
		for i, c := range cols {
			quoted[i] = QuoteSpanner(c)
		}
		out = append(out, fmt.Sprintf("CREATE %s %s ON %s (%s)", kind, QuoteSpanner(p.Target+"_"+ix.Name), QuoteSpanner(p.Target), strings.Join(quoted, ", ")))
	}
	return out
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
		found := false
		for _, c := range p.Cols {
			if strings.EqualFold(c.Source, s) {
				out = append(out, c.Target)
				found = true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return out, true
}
