package config

import (
	"fmt"
	"strings"

	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/spec"
)

// BuildPlan applies a spec table entry to an introspected table.
func BuildPlan(st spec.Table, d spec.Defaults, t *schema.Table) (*schema.TablePlan, error) {
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
	p := &schema.TablePlan{Source: t.Name, Target: st.Target, VersionColumn: -1, WriteMode: st.WriteMode, Table: *t}
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
		opt := schema.Options{
			UnsignedBigintAsString: d.UnsignedBigint == "string",
			SetAsString:            d.Set == "string",
			BitAsInt64:             d.Bit == "int64",
		}
		ov := lookupFold(st.Columns.Overrides, c.Name)
		opt.Override = ov.Type
		m, err := schema.Map(c, opt)
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
		p.Cols = append(p.Cols, schema.ColumnPlan{Source: c.Name, Target: target, Column: c, Mapping: m, Options: base, NullOnInvalid: ov.OnInvalid == "null"})
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
func schemaOptions(st spec.Table, d spec.Defaults) schema.SchemaOptions {
	return schema.SchemaOptions{Fulltext: d.Fulltext, LargeIndexKeys: d.LargeIndexKeys, InterleaveIn: st.InterleaveIn,
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
