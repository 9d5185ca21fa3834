// Package ratelimit owns how fast the backfill may take rows from the
// source: the gate every source query passes, the job-wide budgets it
// enforces, and the adaptive controller that slows the copy down when the
// source is busy.
//
// The one idea: the source decides the speed. Every query the engine sends
// to the source (planning, pages, re-validation, verification, counts) asks
// one Gate first, before it takes a connection from its pool, and tells the
// gate when it is done. The gate admits it according to three things:
//
//  1. Fixed budgets for the whole job (rows/s, queries/s, concurrent
//     connections), shared among the job's live workers. Workers find each
//     other through a Registry (in production a table in the target Spanner
//     database, package checkpoint): each worker heartbeats every second and
//     takes budget ÷ live workers; the connection cap is split so the shares
//     add up to exactly the cap (the first cap mod n workers in id order get
//     one more). A worker that has just joined waits two heartbeats before it
//     uses its share, so every other worker has already shrunk its own; a
//     worker whose heartbeat fails for three intervals stops admitting
//     queries, because the others will soon stop counting it. Stale workers
//     (no heartbeat for five intervals) stop counting. Without a Registry
//     the process is the only worker and takes the whole budget.
//
//  2. An adaptive rows/s limit per worker, set by a controller on its own
//     goroutine that reads probes of the source's load every
//     sample_interval (1 s): host CPU (node_exporter or /proc),
//     Threads_running, replica lag, InnoDB history list length, the latency
//     of a cheap query, or any custom query returning one number. Each probe
//     has a max and a critical threshold.
//
//  3. A pause: above a critical threshold (confirmed by a second reading
//     pause_check = 250 ms later, so one spike does not stop the copy) the
//     gate admits nothing; it re-reads the probes every 250 ms and resumes
//     once every probe is back under its max — not merely under critical,
//     which is the hysteresis that keeps it from flapping. It never holds a
//     source connection while paused: callers wait in Acquire, before they
//     take a connection. Only if the pause lasts longer than hibernate_limit
//     (1 h) does Acquire fail, with a *HibernateError that says why and how to
//     go on; a job is resumable, so nothing already copied is lost.
//
// Why AIMD and not PI. The controller raises the allowed rate additively (5 %
// of the worker's reference rate per sample — its budget share, or the
// highest rate it has seen when it was not limited) and cuts it
// multiplicatively (by the overshoot max/reading, at least 10 %, at most to
// half; to half when a probe cannot be read). A PI controller would need the
// plant's gain — how many CPU points one more row/s costs — which differs per
// table, row width, cache state and whatever else runs on the source, and
// every worker would run its own integrator against the same shared probe,
// so n workers would act with n times the tuned gain and wind up together
// during a pause. AIMD needs no model of the source, converges for any number
// of independent workers sharing one bottleneck (it is how TCP shares a
// link), and is safe when readings lag. Hysteresis makes it quiet on noise:
// it cuts only above max, raises only below max × (1 − hysteresis) (10 %),
// and holds in between; it cuts at most once per sample interval, because a
// reading is a rate over the last interval.
//
// A probe that cannot be read is reported (Status shows the error) and
// treated as "over max" — the gate slows down — never as "no load".
//
// An empty Config (no budgets, no probes) gives a gate as cheap as
// Unlimited: no goroutine, no registry, no waiting; only the counters in
// Status. See Config for the keys and their defaults.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind says what a source query is for; Status counts queries per kind.
type Kind string

// The kinds of source queries.
const (
	Plan       Kind = "plan"       // chunk planning (index walks)
	Page       Kind = "page"       // keyset pages of a chunk
	Revalidate Kind = "revalidate" // which written keys still exist
	Verify     Kind = "verify"     // verification reads
	Count      Kind = "count"      // row counts
)

// Gate admits source queries. The engine calls Acquire BEFORE taking a
// connection from its pool and calls release after the rows are read and the
// connection is back in the pool.
//
// rows is how many rows the query will read or walk on the source: a page's
// LIMIT, a planning step's OFFSET, the number of keys re-validated; 0 for a
// query whose cost is not in rows. It is charged against the rows/s budget
// before the query; release(rowsRead) settles the difference (fewer rows read
// are credited to the next query, more are charged). release must be called
// exactly once (later calls are ignored) and never blocks.
type Gate interface {
	Acquire(ctx context.Context, kind Kind, rows int) (release func(rowsRead int), err error)
}

// Unlimited admits everything at once.
type Unlimited struct{}

// Acquire returns at once; err is ctx.Err().
func (Unlimited) Acquire(ctx context.Context, _ Kind, _ int) (func(int), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return noRelease, nil
}

func noRelease(int) {}

// ErrClosed is returned by Acquire after Close.
var ErrClosed = errors.New("ratelimit: throttle closed")

// HibernateError is returned by Acquire once the gate has been paused for
// longer than throttle.hibernate_limit: the source stayed critical (or the
// worker registry unreachable) all that time. The engine stops the job with
// its message; the job can be resumed with the same job id.
type HibernateError struct {
	Reason string        // e.g. "threads_running 80 > 50"
	For    time.Duration // how long the gate was paused
	Limit  time.Duration // throttle.hibernate_limit
}

func (e *HibernateError) Error() string {
	return fmt.Sprintf("source critical for %s: %s; raise throttle.hibernate_limit (now %s) or the probe's critical threshold, or reduce the load on the source, then rerun with the same --job-id to resume",
		e.For.Round(time.Second), e.Reason, e.Limit)
}

// IsHibernate reports whether err is (or wraps) a *HibernateError.
func IsHibernate(err error) bool {
	var h *HibernateError
	return errors.As(err, &h)
}
