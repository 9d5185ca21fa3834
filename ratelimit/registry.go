package ratelimit

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Registry is where the workers of one job find each other, so they can
// share the job's budgets. Package checkpoint implements it on the target
// Spanner database (checkpoint.NewWorkerRegistry); LocalRegistry serves
// several Throttles in one process.
type Registry interface {
	// Heartbeat records that worker of job is alive now, with its status
	// (shown by `livemigrate status`), and returns the ids of the job's
	// workers whose last heartbeat is within ttl — this one included.
	Heartbeat(ctx context.Context, job, worker string, ttl time.Duration, st Status) ([]string, error)
	// Leave removes worker from job at once (a clean exit).
	Leave(ctx context.Context, job, worker string) error
}

// LocalRegistry is an in-memory Registry for throttles in one process.
type LocalRegistry struct {
	Clock Clock // nil: the real clock

	mu   sync.Mutex
	seen map[[2]string]time.Time
}

// Heartbeat implements Registry.
func (r *LocalRegistry) Heartbeat(_ context.Context, job, worker string, ttl time.Duration, _ Status) ([]string, error) {
	c := r.Clock
	if c == nil {
		c = RealClock{}
	}
	now := c.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[[2]string]time.Time{}
	}
	r.seen[[2]string{job, worker}] = now
	var ids []string
	for k, t := range r.seen {
		if k[0] == job && now.Sub(t) <= ttl {
			ids = append(ids, k[1])
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Leave implements Registry.
func (r *LocalRegistry) Leave(_ context.Context, job, worker string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.seen, [2]string{job, worker})
	return nil
}

// shares splits the job's budgets among the live workers: rates evenly,
// connections so they add up to exactly the cap (the first cap mod n
// workers in id order get one more; with more workers than connections,
// the last ones get none and wait).
func shares(cfg Config, ids []string, self string) (rows, queries float64, conns int) {
	n := len(ids)
	idx := sort.SearchStrings(ids, self)
	if idx >= n || ids[idx] != self {
		// Not listed (yet): count ourselves in, conservatively last.
		n++
		idx = n - 1
	}
	rows, queries, conns = inf, inf, -1
	if cfg.RowsPerSecond > 0 {
		rows = cfg.RowsPerSecond / float64(n)
	}
	if cfg.QueriesPerSecond > 0 {
		queries = cfg.QueriesPerSecond / float64(n)
	}
	if cfg.MaxConnections > 0 {
		conns = cfg.MaxConnections / n
		if idx < cfg.MaxConnections%n {
			conns++
		}
	}
	return rows, queries, conns
}

// Clock is the time source of a Throttle (a fake one in tests).
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// After is time.After.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
