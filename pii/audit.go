package pii

import (
	"fmt"
	"sort"
	"strings"

	"github.com/livemigrate/livemigrate/pii/detect"
)

// AuditColumn is one column as the coverage audit sees it.
type AuditColumn struct {
	Name     string   // Spanner (target) column name: policies are keyed by it
	Source   string   // MySQL column name, for messages ("" = Name)
	DataType string   // MySQL DATA_TYPE, lower case (varchar, date, bigint, ...)
	Comment  string   // MySQL COLUMN_COMMENT
	Samples  []string // non-NULL sampled values as text (detect.Sample); nil = not sampled
}

// AuditTable is one table as the coverage audit sees it.
type AuditTable struct {
	Name    string // Spanner (target) table name
	Source  string // MySQL table name ("" = Name)
	Columns []AuditColumn
}

// Finding is a column that looks personal or secret.
type Finding struct {
	Table        string `json:"table"`  // Spanner table
	Column       string `json:"column"` // Spanner column
	SourceTable  string `json:"source_table,omitempty"`
	SourceColumn string `json:"source_column,omitempty"`
	Detector     string `json:"detector"` // the strongest evidence: email, phone, card-number, ...
	Why          string `json:"why"`      // every piece of evidence, never a value
	// Policy is the column's decision; "" means undecided, which blocks the
	// backfill.
	Policy Policy `json:"policy,omitempty"`
}

// Audit runs the detectors over every column and returns a finding for
// each column that looks personal or secret, decided or not, in table and
// column order. Undecided filters the ones that block.
func Audit(cfg *Config, tables []AuditTable) []Finding {
	var out []Finding
	for _, t := range tables {
		for _, c := range t.Columns {
			hits := detect.Column(detect.Input{Name: c.Name, DataType: c.DataType, Comment: c.Comment, Samples: c.Samples})
			if c.Source != "" && !strings.EqualFold(c.Source, c.Name) {
				hits = append(hits, detect.Name(c.Source, c.DataType)...)
			}
			if len(hits) == 0 {
				continue
			}
			f := Finding{Table: t.Name, Column: c.Name, SourceTable: or(t.Source, t.Name), SourceColumn: or(c.Source, c.Name), Detector: hits[0].Detector}
			var whys []string
			seen := map[string]bool{}
			for _, h := range hits {
				w := h.Detector + ": " + h.Why
				if !seen[w] {
					seen[w] = true
					whys = append(whys, w)
				}
			}
			f.Why = strings.Join(whys, "; ")
			if col, ok := cfg.Lookup(t.Name, c.Name); ok {
				f.Policy = col.Policy
			}
			out = append(out, f)
		}
	}
	return out
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Undecided returns the findings without a policy.
func Undecided(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Policy == "" {
			out = append(out, f)
		}
	}
	return out
}

// UndecidedError is the one-line error that stops a backfill while columns
// that look personal have no policy (nil when every one is decided). The
// CLI exits 2 with it.
func UndecidedError(fs []Finding) error {
	u := Undecided(fs)
	if len(u) == 0 {
		return nil
	}
	names := make([]string, len(u))
	for i, f := range u {
		names[i] = fmt.Sprintf("%s.%s (%s)", f.Table, f.Column, f.Detector)
	}
	sort.Strings(names)
	noun, verb := "columns look", "have"
	if len(u) == 1 {
		noun, verb = "column looks", "has"
	}
	return errf("%d %s personal or secret and %s no PII policy: %s; decide each under pii.tables.TABLE.COLUMN in the spec (encrypt, deterministic, hash, redact, or none with a reason); `livemigrate plan` shows why",
		len(u), noun, verb, strings.Join(names, ", "))
}
