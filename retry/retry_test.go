package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

var errTransient = errors.New("transient")
var errFatal = errors.New("fatal")

func isTransient(err error) bool { return errors.Is(err, errTransient) }

func TestDo(t *testing.T) {
	fast := Policy{Initial: time.Millisecond, Max: 2 * time.Millisecond, Window: time.Second}
	cases := []struct {
		name     string
		p        Policy
		failures []error // returned by the first calls, then nil
		wantErr  error
		wantExh  bool
		wantCall int
	}{
		{"success at once", fast, nil, nil, false, 1},
		{"transient then success", fast, []error{errTransient, errTransient}, nil, false, 3},
		{"fatal is not retried", fast, []error{errFatal}, errFatal, false, 1},
		{"transient then fatal", fast, []error{errTransient, errFatal}, errFatal, false, 2},
		{"attempts bound", Policy{Initial: time.Millisecond, Attempts: 3, Window: -1}, []error{errTransient, errTransient, errTransient, errTransient}, errTransient, true, 3},
		{"window bound", Policy{Initial: 5 * time.Millisecond, Max: 5 * time.Millisecond, Window: 20 * time.Millisecond},
			repeat(errTransient, 1000), errTransient, true, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			var events []Event
			err := c.p.Do(context.Background(), isTransient, func(e Event) { events = append(events, e) }, func(context.Context) error {
				calls++
				if calls <= len(c.failures) {
					return c.failures[calls-1]
				}
				return nil
			})
			if !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			var ex *ExhaustedError
			if errors.As(err, &ex) != c.wantExh {
				t.Fatalf("exhausted = %v, want %v (%v)", !c.wantExh, c.wantExh, err)
			}
			if c.wantCall >= 0 && calls != c.wantCall {
				t.Fatalf("calls = %d, want %d", calls, c.wantCall)
			}
			if c.wantCall < 0 && (calls < 3 || calls > 20) {
				t.Fatalf("window of 20ms with 5ms waits made %d calls", calls)
			}
			if len(events) != calls-1 && err == nil {
				t.Fatalf("%d retry events for %d calls", len(events), calls)
			}
			for i, e := range events {
				if e.Attempt != i+1 || e.Err == nil || e.Wait < 0 {
					t.Fatalf("event %d: %+v", i, e)
				}
			}
		})
	}
}

func repeat(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}

func TestDoStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := Policy{Initial: time.Second, Max: time.Second, Window: time.Hour}.Do(ctx, isTransient, nil, func(context.Context) error { return errTransient })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Fatalf("Do slept %v past a 30ms context", el)
	}
}

// TestBackoffGrows checks waits double up to the cap (within jitter).
func TestBackoffGrows(t *testing.T) {
	var waits []time.Duration
	p := Policy{Initial: 2 * time.Millisecond, Max: 8 * time.Millisecond, Attempts: 6, Window: -1}
	p.Do(context.Background(), isTransient, func(e Event) { waits = append(waits, e.Wait) }, func(context.Context) error { return errTransient })
	caps := []time.Duration{2, 4, 8, 8, 8}
	if len(waits) != len(caps) {
		t.Fatalf("waits %v", waits)
	}
	for i, w := range waits {
		c := caps[i] * time.Millisecond
		if w < c/2 || w > c {
			t.Fatalf("wait %d = %v, want in [%v, %v]", i, w, c/2, c)
		}
	}
}
