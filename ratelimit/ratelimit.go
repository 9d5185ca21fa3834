// Package ratelimit owns how fast the engine may take rows from the source.
//
// The one idea: every source query asks one gate for permission before it
// takes a connection, so throttling is a property of the gate, not of the
// read loop. Today the only gate is Unlimited; source-load throttling plugs
// in here as another Gate without touching the engine.
package ratelimit

import "context"

// Kind names what a source query is for.
type Kind string

// Query kinds.
const (
	Plan       Kind = "plan"       // chunk planning (index walk)
	Page       Kind = "page"       // one keyset page of a chunk
	Revalidate Kind = "revalidate" // re-validation of written keys
	Verify     Kind = "verify"     // verify's existence checks
	Count      Kind = "count"      // row counts
)

// Gate admits source queries. The engine calls Acquire BEFORE taking a
// connection from its pool and calls release after the rows are read and
// the connection is back in the pool, with the rows actually read.
type Gate interface {
	Acquire(ctx context.Context, kind Kind, rows int) (release func(rowsRead int), err error)
}

// Unlimited admits everything at once.
type Unlimited struct{}

// Acquire returns at once unless ctx is done.
func (Unlimited) Acquire(ctx context.Context, _ Kind, _ int) (func(int), error) {
	return func(int) {}, ctx.Err()
}
