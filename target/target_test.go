package target_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/retry"
	"github.com/livemigrate/livemigrate/target"
)

func TestEmulatorRetryable(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Aborted, "Transaction was aborted"), true},
		{status.Error(codes.NotFound, "Transaction not found"), true},
		{status.Error(codes.FailedPrecondition, "Invalid transaction ID. The transaction may have been aborted"), true},
		{status.Error(codes.NotFound, "Table not found: Foo"), false},
		{status.Error(codes.FailedPrecondition, "Cannot insert a row: foreign key violation"), false},
		{status.Error(codes.AlreadyExists, "Row [1] in table T already exists"), false},
		{errors.New("plain"), false},
	}
	for _, c := range cases {
		err := spanner.ToSpannerError(c.err)
		if got := target.EmulatorRetryable(err); got != c.want {
			t.Errorf("EmulatorRetryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestConcurrentReadWriteOnEmulator: many goroutines increment one counter
// in read-write transactions. The emulator aborts (or answers NotFound /
// FailedPrecondition to) all but one concurrent transaction; target.ReadWrite
// must still land every increment exactly once.
func TestConcurrentReadWriteOnEmulator(t *testing.T) {
	e := testenv.New(t)
	ctx := testenv.Context(t)
	if err := target.ApplyDDL(ctx, e.SpannerDB, []string{"CREATE TABLE Counter (id INT64 NOT NULL, n INT64 NOT NULL) PRIMARY KEY (id)"}); err != nil {
		t.Fatal(err)
	}
	c, err := target.Client(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx, []*spanner.Mutation{spanner.Insert("Counter", []string{"id", "n"}, []any{1, 0})}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 6, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, err := target.ReadWrite(ctx, c, func(ctx context.Context, txn *spanner.ReadWriteTransaction) error {
					row, err := txn.ReadRow(ctx, "Counter", spanner.Key{1}, []string{"n"})
					if err != nil {
						return err
					}
					var n int64
					if err := row.Columns(&n); err != nil {
						return err
					}
					return txn.BufferWrite([]*spanner.Mutation{spanner.Update("Counter", []string{"id", "n"}, []any{1, n + 1})})
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("transaction failed: %v", err)
	}
	row, err := c.Single().ReadRow(ctx, "Counter", spanner.Key{1}, []string{"n"})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	row.Columns(&n)
	if n != workers*each {
		t.Fatalf("counter = %d, want %d", n, workers*each)
	}
}

func TestCheckNamesMissingDatabase(t *testing.T) {
	e := testenv.New(t)
	err := target.Check(testenv.Context(t), e.SpannerDB+"nope")
	var nf *target.NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("Check on a missing database: %v", err)
	}
}

func TestTransient(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Unavailable, "connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused\""), true},
		{status.Error(codes.DeadlineExceeded, "context deadline exceeded, transaction outcome unknown"), true},
		{status.Error(codes.Internal, "stream terminated by RST_STREAM with error code: PROTOCOL_ERROR"), true},
		{status.Error(codes.Internal, "Internal error in the emulator"), false},
		{status.Error(codes.NotFound, "Database not found: projects/p/instances/i/databases/d"), false},
		{status.Error(codes.FailedPrecondition, "Column not found in table products: description"), false},
		{status.Error(codes.Aborted, "Transaction was aborted"), false},
		{errors.New("plain"), false},
		{nil, false},
	}
	for _, c := range cases {
		var err error
		if c.err != nil {
			err = spanner.ToSpannerError(c.err)
		}
		if got := target.Transient(err); got != c.want {
			t.Errorf("Transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if !target.ConcurrentSchemaChange(spanner.ToSpannerError(status.Error(codes.FailedPrecondition,
		"Schema change operation rejected because a concurrent schema change operation or read-write transaction is already in progress."))) {
		t.Errorf("a concurrent schema change is not recognised")
	}
}

// TestOutageWindow: a target that does not answer is retried within the
// context's window, every retry logged, and ends in an UnavailableError
// naming the window; a fatal error is not retried.
func TestOutageWindow(t *testing.T) {
	ctx := target.WithRetry(context.Background(), retry.Policy{Initial: time.Millisecond, Max: 5 * time.Millisecond, Window: 100 * time.Millisecond})
	calls := 0
	err := target.Do(ctx, "read T", func(context.Context) error {
		calls++
		return spanner.ToSpannerError(status.Error(codes.Unavailable, "connection refused"))
	})
	var ue *target.UnavailableError
	if !errors.As(err, &ue) || calls < 3 || !strings.Contains(err.Error(), "--target-retry-window 100ms") || !strings.Contains(err.Error(), "during read T") {
		t.Fatalf("after %d calls: %v", calls, err)
	}
	calls = 0
	err = target.Do(ctx, "read T", func(context.Context) error {
		calls++
		return spanner.ToSpannerError(status.Error(codes.NotFound, "Table not found: T"))
	})
	if calls != 1 || errors.As(err, &ue) {
		t.Fatalf("a fatal error was retried (%d calls): %v", calls, err)
	}
}
