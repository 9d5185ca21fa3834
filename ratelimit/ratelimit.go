// Package ratelimit owns how fast the backfill may take rows from the
// source.
//
// The one idea: the reader asks one gate for permission before every page it
// reads, so throttling is a property of the gate, not of the read loop. Today
// the only gate is Unlimited; source-load throttling plugs in here as another
// Gate without touching the reader.
package ratelimit

import "context"

// Gate admits reads. Wait blocks until rows more rows may be read, or the
// context ends.
type Gate interface {
	Wait(ctx context.Context, rows int) error
}

// Unlimited admits everything at once.
type Unlimited struct{}

// Wait returns immediately unless ctx is done.
func (Unlimited) Wait(ctx context.Context, _ int) error { return ctx.Err() }
