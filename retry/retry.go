// Package retry owns waiting and trying again: one context-aware backoff
// used by every place that talks to the source or the target.
//
// The one idea: a transient failure is ridden out for a bounded stretch of
// wall-clock time (the window), not for a number of attempts, because what
// an operator can reason about is "MySQL may be gone for up to five minutes",
// not "ten retries". Waits grow exponentially with jitter up to a cap, every
// wait watches the context, and the caller decides what is transient.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy says how long and how often to retry. The zero value uses the
// defaults below. It is plain data so it can ride in a job configuration.
type Policy struct {
	// Initial is the first wait (default 50ms).
	Initial time.Duration `json:"initial,omitempty"`
	// Max caps one wait (default 5s).
	Max time.Duration `json:"max,omitempty"`
	// Window bounds the time spent retrying, measured from the first
	// failure (default 5m). Negative: no window, only Attempts.
	Window time.Duration `json:"window,omitempty"`
	// Attempts bounds the number of tries (0: unlimited within Window).
	Attempts int `json:"attempts,omitempty"`
}

// Defaults of Policy.
const (
	DefaultInitial = 50 * time.Millisecond
	DefaultMax     = 5 * time.Second
	DefaultWindow  = 5 * time.Minute
)

// Event describes one retry about to happen, for logging.
type Event struct {
	Attempt int           // 1 for the first retry
	Err     error         // what failed
	Wait    time.Duration // how long until the next try
	Left    time.Duration // time left in the window (negative: no window)
}

// ExhaustedError is returned when the policy gives up on a retryable error.
type ExhaustedError struct {
	Attempts int
	Elapsed  time.Duration
	Err      error
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("gave up after %d attempts over %s: %v", e.Attempts, e.Elapsed.Round(time.Millisecond), e.Err)
}

func (e *ExhaustedError) Unwrap() error { return e.Err }

func (p Policy) withDefaults() Policy {
	if p.Initial <= 0 {
		p.Initial = DefaultInitial
	}
	if p.Max <= 0 {
		p.Max = DefaultMax
	}
	if p.Max < p.Initial {
		p.Max = p.Initial
	}
	if p.Window == 0 {
		p.Window = DefaultWindow
	}
	return p
}

// Do calls fn until it succeeds, fails with an error retryable rejects, the
// context ends, or the policy is exhausted. onRetry (may be nil) hears about
// every retry before its wait. A nil retryable retries nothing.
func (p Policy) Do(ctx context.Context, retryable func(error) bool, onRetry func(Event), fn func(context.Context) error) error {
	p = p.withDefaults()
	var first time.Time
	wait := p.Initial
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(ctx.Err(), err)
		}
		if retryable == nil || !retryable(err) {
			return err
		}
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		if p.Attempts > 0 && attempt >= p.Attempts {
			return &ExhaustedError{Attempts: attempt, Elapsed: now.Sub(first), Err: err}
		}
		d := wait/2 + rand.N(wait/2+1)
		left := time.Duration(-1)
		if p.Window > 0 {
			left = p.Window - now.Sub(first)
			if left <= 0 {
				return &ExhaustedError{Attempts: attempt, Elapsed: now.Sub(first), Err: err}
			}
			if d > left {
				d = left
			}
		}
		if onRetry != nil {
			onRetry(Event{Attempt: attempt, Err: err, Wait: d, Left: left})
		}
		if err := Sleep(ctx, d); err != nil {
			return err
		}
		if wait *= 2; wait > p.Max {
			wait = p.Max
		}
	}
}

// Sleep waits d or until ctx ends, whichever comes first.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
