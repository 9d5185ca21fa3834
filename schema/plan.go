package schema

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
	// Protection is the column's PII policy when one rewrites its values
	// (encrypt, deterministic, hash, redact); Mapping.SpannerType is then
	// the stored type.
	Protection string `json:"protection,omitempty"`
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
