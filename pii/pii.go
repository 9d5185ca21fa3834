// Package pii owns the protection of personal data before a value leaves
// the worker.
//
// The one idea: protection is one step between convert and write that sees
// every converted row and may replace cell values, so no later step (write,
// dead letter, metric) can see a protected plaintext. Today the only
// Protector is None; column encryption plugs in here.
package pii

// Protector rewrites the cells of a converted row in place.
type Protector interface {
	// Protect replaces protected cells of row (target column order) of table.
	Protect(table string, row []any) error
}

// None protects nothing.
type None struct{}

// Protect does nothing.
func (None) Protect(string, []any) error { return nil }
