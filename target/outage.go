package target

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"

	"github.com/livemigrate/livemigrate/retry"
)

// Outages. Every call the engine makes to Spanner — commits, reads, the
// checkpoint's writes, DDL — runs through Do, which rides out an unavailable
// target (connection refused, a restart, a call that runs into its
// per-attempt deadline, a commit whose outcome is unknown) with capped
// exponential backoff for the target retry window, logs every retry once
// with its cause and the time left, and past the window returns an
// *UnavailableError: one line naming the window. The Spanner client retries
// Unavailable on its own for up to an hour, silently; the per-attempt
// deadline takes that loop back, so an outage is never silent for longer
// than one attempt plus one wait. This holds against production Spanner as
// much as against the emulator: only the emulator's stand-ins for ABORTED
// stay emulator-only (ReadWrite).

// AttemptTimeout bounds one attempt of a call (a read, a DDL wait step, a
// production read-write transaction including the client's own ABORTED
// retries); EmulatorReadTimeout is the same against the emulator, whose
// read-write transactions are bounded by EmulatorAttemptTimeout instead.
const (
	AttemptTimeout      = 30 * time.Second
	EmulatorReadTimeout = 10 * time.Second
)

type retryKey struct{}

// WithRetry returns a context whose Spanner calls (Do, ReadWrite and every
// helper of this package) ride out outages with policy p — the job's
// TargetRetry. Without it the default window (retry.DefaultWindow) applies.
func WithRetry(ctx context.Context, p retry.Policy) context.Context {
	return context.WithValue(ctx, retryKey{}, p)
}

func policyOf(ctx context.Context) retry.Policy {
	p, _ := ctx.Value(retryKey{}).(retry.Policy)
	return p
}

// UnavailableError is returned when Spanner stayed unavailable for the
// whole target retry window.
type UnavailableError struct {
	What    string
	Elapsed time.Duration
	Window  time.Duration
	Err     error
}

// UnavailableMessage starts every UnavailableError's text.
const UnavailableMessage = "Spanner unavailable for "

func (e *UnavailableError) Error() string {
	return fmt.Sprintf(UnavailableMessage+"%s, the whole target retry window (--target-retry-window %s), during %s: %s",
		e.Elapsed.Round(time.Second), e.Window, e.What, oneLine(spanner.ErrDesc(e.Err)))
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// errStalled marks an attempt that ran into its per-attempt deadline while
// the caller's context was still alive.
var errStalled = errors.New("no answer within the attempt deadline")

// Transient reports the errors an unavailable target gives: worth trying
// again within the window. A commit that ends in DeadlineExceeded
// ("transaction outcome unknown") is one of them: every transaction of this
// project is idempotent (the backfill's batch is re-run through the same
// dedup guard), so re-running it is safe where a blind retry would not be.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errStalled) {
		return true
	}
	switch spanner.ErrCode(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	case codes.Internal, codes.Unknown:
		d := strings.ToLower(spanner.ErrDesc(err))
		return strings.Contains(d, "rst_stream") || strings.Contains(d, "transport is closing") ||
			strings.Contains(d, "connection reset") || strings.Contains(d, "connection refused") || strings.Contains(d, "unexpected eof")
	}
	return false
}

// Do runs fn against Spanner within the context's target retry window (see
// WithRetry): every attempt gets its own deadline, and a transient failure
// (Transient) is logged and tried again. what names the call in the log
// and in the final error ("commit", "read livemigrate_progress", ...).
func Do(ctx context.Context, what string, fn func(context.Context) error) error {
	timeout := AttemptTimeout
	if Emulator() {
		timeout = EmulatorReadTimeout
	}
	return do(ctx, what, timeout, fn)
}

func do(ctx context.Context, what string, timeout time.Duration, fn func(context.Context) error) error {
	p := policyOf(ctx)
	start := time.Now()
	err := p.Do(ctx, Transient, func(ev retry.Event) {
		slog.Default().Warn("Spanner unavailable; retrying", "during", what, "cause", oneLine(spanner.ErrDesc(ev.Err)),
			"attempt", ev.Attempt, "wait", ev.Wait.Round(time.Millisecond), "left", ev.Left.Round(time.Second))
	}, func(ctx context.Context) error {
		actx := ctx
		if timeout > 0 {
			var cancel context.CancelFunc
			actx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		err := fn(actx)
		if err != nil && timeout > 0 && actx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			return fmt.Errorf("%w (%s): %w", errStalled, timeout, err)
		}
		return err
	})
	var ex *retry.ExhaustedError
	if errors.As(err, &ex) {
		w := p.Window
		if w == 0 {
			w = retry.DefaultWindow
		}
		return &UnavailableError{What: what, Elapsed: time.Since(start), Window: w, Err: ex.Err}
	}
	return err
}
