package config

import (
	"fmt"

	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/schema"
)

// applyPII gives every column with a PII policy its stored Spanner type
// (the plan's DDL, shadow tables and delta then know it) and refuses the
// decisions the engine cannot honour.
func applyPII(p *schema.TablePlan, cfg *pii.Config) error {
	if !cfg.Enabled() {
		return nil
	}
	for i := range p.Cols {
		c := &p.Cols[i]
		col, ok := cfg.Lookup(p.Target, c.Target)
		if !ok || !col.Policy.Protected() {
			continue
		}
		if i == p.VersionColumn {
			return inputf("table %s: version_column %s has pii policy %s, but ciphertexts cannot be ordered; protect another column or use write_mode insert-if-absent",
				p.Source, c.Source, col.Policy)
		}
		typ, nullable := col.SpannerType(c.Mapping.SpannerType)
		c.Mapping.SpannerType = typ
		c.Mapping.Note = fmt.Sprintf("PII %s: stored as %s", col.Policy, typ)
		c.Protection = string(col.Policy)
		switch {
		case col.Policy.Keyed():
			c.Mapping.StoredKind = schema.KindBytes
		case col.Value != nil:
			c.Mapping.StoredKind = schema.KindString
		}
		if nullable {
			c.Column.Nullable = true
		}
	}
	return nil
}

// PIITables describes the job's tables to the PII protector.
func (j *Job) PIITables() []pii.Table {
	out := make([]pii.Table, len(j.Tables))
	for i := range j.Tables {
		p := &j.Tables[i].Plan
		out[i] = pii.Table{Name: p.Target, Columns: p.TargetColumns(), Key: p.Key}
	}
	return out
}
