package schema

import (
	"fmt"

	"github.com/livemigrate/livemigrate/spec"
)

// SchemaOptions are the spec's target-schema choices for one table (its
// entry over the spec's defaults).
type SchemaOptions struct {
	// Fulltext is spec.FulltextSkip (default) or spec.FulltextSearch.
	Fulltext string `json:"fulltext,omitempty"`
	// LargeIndexKeys is spec.LargeKeysKeep (default) or spec.LargeKeysSkip.
	LargeIndexKeys string `json:"large_index_keys,omitempty"`
	// InterleaveIn is the source table named by tables[].interleave_in.
	InterleaveIn string `json:"interleave_in,omitempty"`
	// Acknowledge lists the warning codes acknowledged for the table.
	Acknowledge []string `json:"acknowledge,omitempty"`
}

// finish completes a plan built by BuildPlan: the spec's schema choices,
// then the checks every plan must pass (acknowledged warning codes exist,
// target names are valid Spanner names).
func (p *TablePlan) finish(st spec.Table, d spec.Defaults) error {
	p.Schema = SchemaOptions{Fulltext: d.Fulltext, LargeIndexKeys: d.LargeIndexKeys, InterleaveIn: st.InterleaveIn,
		Acknowledge: append(append([]string{}, d.Acknowledge...), st.Acknowledge...)}
	if err := checkAcknowledge(p.Schema.Acknowledge); err != nil {
		return fmt.Errorf("table %q: %w", p.Source, err)
	}
	return p.checkNames()
}
