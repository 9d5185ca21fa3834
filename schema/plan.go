package schema

import (
	"fmt"
	"strings"

	"github.com/livemigrate/livemigrate/spec"
)

// ColumnPlan is one column as it moves: where it comes from, where it goes,
// and its mapping.
type ColumnPlan struct {
	Source  string  `json:"source"`
	Target  string  `json:"target"`
	Column  Column  `json:"column"`
	Mapping Mapping `json:"mapping"`
	// Options are the mapping choices the column was mapped with.
	Options Options `json:"options"`
	// NullOnInvalid writes NULL instead of dead-lettering a bad value.
	NullOnInvalid bool `json:"null_on_invalid,omitempty"`
}

// TablePlan is everything the data path needs to move one table. It is
// plain data so it can ride inside a DoFn to any worker.
type TablePlan struct {
	Source string       `json:"source"`
	Target string       `json:"target"`
	Cols   []ColumnPlan `json:"cols"`
	// Key is the chunking/dedup key: indexes into Cols, in key order.
	Key           []int  `json:"key"`
	VersionColumn int    `json:"version_column"` // index into Cols, -1 when none
	WriteMode     string `json:"write_mode"`
	Table         Table  `json:"table"` // the introspected source definition
	// Schema are the spec's target-schema choices (FULLTEXT, large index
	// keys, interleave_in, acknowledged warnings).
	Schema SchemaOptions `json:"schema"`
	// Interleave, when set, makes the table INTERLEAVE IN PARENT: from
	// ResolveInterleave for the DDL, from the target's schema for the
	// backfill (which then copies the parent first).
	Interleave *Interleave `json:"interleave,omitempty"`
}

// KeyColumns are the key's column plans in key order.
func (p *TablePlan) KeyColumns() []ColumnPlan {
	out := make([]ColumnPlan, len(p.Key))
	for i, k := range p.Key {
		out[i] = p.Cols[k]
	}
	return out
}

// TargetColumns lists the Spanner column names in Cols order.
func (p *TablePlan) TargetColumns() []string {
	out := make([]string, len(p.Cols))
	for i, c := range p.Cols {
		out[i] = c.Target
	}
	return out
}

// TargetKey lists the Spanner key column names in key order.
func (p *TablePlan) TargetKey() []string {
	out := make([]string, len(p.Key))
	for i, k := range p.Key {
		out[i] = p.Cols[k].Target
	}
	return out
}

// BuildPlan applies a spec table entry to an introspected table.
func BuildPlan(st spec.Table, d spec.Defaults, t *Table) (*TablePlan, error) {
	key, err := t.ChunkKey(st.Key)
	if err != nil {
		return nil, err
	}
	for _, name := range append(append([]string{}, st.Columns.Include...), st.Columns.Exclude...) {
		if _, ok := t.Column(name); !ok {
			return nil, fmt.Errorf("table %q: column %q named in columns.include/exclude does not exist", t.Name, name)
		}
	}
	for name := range st.Columns.Rename {
		if _, ok := t.Column(name); !ok {
			return nil, fmt.Errorf("table %q: column %q named in columns.rename does not exist", t.Name, name)
		}
	}
	for name := range st.Columns.Overrides {
		if _, ok := t.Column(name); !ok {
			return nil, fmt.Errorf("table %q: column %q named in columns.overrides does not exist", t.Name, name)
		}
	}
	p := &TablePlan{Source: t.Name, Target: st.Target, VersionColumn: -1, WriteMode: st.WriteMode, Table: *t}
	if p.Target == "" {
		p.Target = t.Name
	}
	inKey := map[string]bool{}
	for _, k := range key {
		inKey[strings.ToLower(k)] = true
	}
	seen := map[string]bool{}
	for _, c := range t.Columns {
		if !selected(st.Columns, c.Name) {
			if inKey[strings.ToLower(c.Name)] {
				return nil, fmt.Errorf("table %q: key column %q cannot be excluded", t.Name, c.Name)
			}
			continue
		}
		opt := Options{
			UnsignedBigintAsString: d.UnsignedBigint == "string",
			SetAsString:            d.Set == "string",
			BitAsInt64:             d.Bit == "int64",
		}
		ov := lookupFold(st.Columns.Overrides, c.Name)
		opt.Override = ov.Type
		m, err := Map(c, opt)
		if err != nil {
			return nil, fmt.Errorf("table %q: %w", t.Name, err)
		}
		target := c.Name
		for from, to := range st.Columns.Rename {
			if strings.EqualFold(from, c.Name) {
				target = to
			}
		}
		if seen[strings.ToLower(target)] {
			return nil, fmt.Errorf("table %q: two columns map to target column %q", t.Name, target)
		}
		seen[strings.ToLower(target)] = true
		if ov.OnInvalid == "null" && !c.Nullable {
			return nil, fmt.Errorf("table %q: column %q has on_invalid: null but is NOT NULL; use dead-letter", t.Name, c.Name)
		}
		base := opt
		base.Override = ""
		p.Cols = append(p.Cols, ColumnPlan{Source: c.Name, Target: target, Column: c, Mapping: m, Options: base, NullOnInvalid: ov.OnInvalid == "null"})
	}
	for _, k := range key {
		for i, c := range p.Cols {
			if strings.EqualFold(c.Source, k) {
				p.Key = append(p.Key, i)
			}
		}
	}
	if st.VersionColumn != "" {
		for i, c := range p.Cols {
			if strings.EqualFold(c.Source, st.VersionColumn) {
				p.VersionColumn = i
			}
		}
		if p.VersionColumn < 0 {
			return nil, fmt.Errorf("table %q: version_column %q is not a selected column", t.Name, st.VersionColumn)
		}
	}
	return p, p.Finish(schemaOptions(st, d))
}

// schemaOptions are a table's target-schema choices: its spec entry over
// the spec's defaults.
func schemaOptions(st spec.Table, d spec.Defaults) SchemaOptions {
	return SchemaOptions{Fulltext: d.Fulltext, LargeIndexKeys: d.LargeIndexKeys, InterleaveIn: st.InterleaveIn,
		Acknowledge: append(append([]string{}, d.Acknowledge...), st.Acknowledge...)}
}

func selected(c spec.Columns, name string) bool {
	if len(c.Include) > 0 {
		return containsFold(c.Include, name)
	}
	return !containsFold(c.Exclude, name)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func lookupFold(m map[string]spec.ColumnOverride, name string) spec.ColumnOverride {
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return spec.ColumnOverride{}
}
