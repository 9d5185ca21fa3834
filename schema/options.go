package schema

import "fmt"

// Target-schema choices (the spec's values).
const (
	FulltextSkip   = "skip"
	FulltextSearch = "search"
	LargeKeysKeep  = "keep"
	LargeKeysSkip  = "skip"
)

// SchemaOptions are the spec's target-schema choices for one table (its
// entry over the spec's defaults).
type SchemaOptions struct {
	// Fulltext is FulltextSkip (default) or FulltextSearch.
	Fulltext string `json:"fulltext,omitempty"`
	// LargeIndexKeys is LargeKeysKeep (default) or LargeKeysSkip.
	LargeIndexKeys string `json:"large_index_keys,omitempty"`
	// InterleaveIn is the source table named by tables[].interleave_in.
	InterleaveIn string `json:"interleave_in,omitempty"`
	// Acknowledge lists the warning codes acknowledged for the table.
	Acknowledge []string `json:"acknowledge,omitempty"`
}

// Finish completes a plan: its target-schema choices, then the checks
// every plan must pass (acknowledged warning codes exist, target names are
// valid Spanner names). BuildPlan calls it last; it reads no spec.
func (p *TablePlan) Finish(o SchemaOptions) error {
	p.Schema = o
	if err := checkAcknowledge(p.Schema.Acknowledge); err != nil {
		return fmt.Errorf("table %q: %w", p.Source, err)
	}
	return p.checkNames()
}
