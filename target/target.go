// Package target owns the connection to the Spanner database rows are
// written to: one client per database per worker process, DDL application,
// and the retry policies of every call (outages and contention).
//
// The one idea: retries are decided in one place, knowing which server we
// talk to. An unavailable target (a restart, a lost connection, a commit
// whose outcome is unknown) is ridden out the same way against production
// Spanner and the emulator: Do, with the job's target retry window, a
// per-attempt deadline and one log line per retry (outage.go). Contention is
// server-specific: production Spanner answers it with ABORTED, which the
// client library already retries; the emulator allows one read-write
// transaction at a time and, under contention, also answers NotFound
// "Transaction not found" or FailedPrecondition "Invalid transaction ID".
// Only when SPANNER_EMULATOR_HOST is set are those treated as retryable, and
// read-write transactions are serialised per process, so against real
// Spanner such errors still surface.
package target

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/spanner"
	database "cloud.google.com/go/spanner/admin/database/apiv1"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"

	"github.com/livemigrate/livemigrate/retry"
)

// EmulatorAttemptTimeout bounds one read-write transaction attempt against
// the emulator, which now and then leaves a transaction without an answer.
const EmulatorAttemptTimeout = 5 * time.Second

// Emulator reports whether this process talks to the Spanner emulator.
func Emulator() bool { return os.Getenv("SPANNER_EMULATOR_HOST") != "" }

var (
	clientsMu sync.Mutex
	clients   = map[string]*spanner.Client{}
	// emulatorTxn serialises read-write transactions against the emulator,
	// which aborts all but one concurrent transaction anyway. It is a
	// semaphore, not a mutex, so that waiting for it honours the attempt's
	// deadline.
	emulatorTxn = make(chan struct{}, 1)
)

// Client returns the process-wide client for db, creating it on first use.
func Client(ctx context.Context, db string) (*spanner.Client, error) {
	clientsMu.Lock()
	defer clientsMu.Unlock()
	if c, ok := clients[db]; ok {
		return c, nil
	}
	cfg := spanner.ClientConfig{
		SessionPoolConfig:    spanner.DefaultSessionPoolConfig,
		DisableNativeMetrics: true,
	}
	c, err := spanner.NewClientWithConfig(context.WithoutCancel(ctx), db, cfg)
	if err != nil {
		return nil, fmt.Errorf("open Spanner database %s: %w", db, err)
	}
	clients[db] = c
	return c, nil
}

// NotFoundError says the Spanner database does not exist.
type NotFoundError struct {
	DB  string
	Err error
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("Spanner database %s is not reachable: %v; check target.database (and SPANNER_EMULATOR_HOST for the emulator)", e.DB, e.Err)
}

// BadInput marks the error as the operator's to fix (exit 2).
func (e *NotFoundError) BadInput() bool { return true }

// Check verifies the database answers a query.
func Check(ctx context.Context, db string) error {
	c, err := Client(ctx, db)
	if err != nil {
		return &NotFoundError{DB: db, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	it := c.Single().Query(ctx, spanner.Statement{SQL: "SELECT 1"})
	defer it.Stop()
	if _, err := it.Next(); err != nil && err != iterator.Done {
		return &NotFoundError{DB: db, Err: errors.New(oneLine(spanner.ErrDesc(err)))}
	}
	return nil
}

// Tables lists the user tables of the database.
func Tables(ctx context.Context, db string) (map[string]bool, error) {
	return Names(ctx, db, "SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = ''")
}

// ForeignKeys lists the foreign-key constraint names of the database.
func ForeignKeys(ctx context.Context, db string) (map[string]bool, error) {
	return Names(ctx, db, "SELECT CONSTRAINT_NAME FROM INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ''")
}

// Names runs a query whose single STRING column lists names, and returns
// them as a set.
func Names(ctx context.Context, db, sql string) (map[string]bool, error) {
	c, err := Client(ctx, db)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	err = Do(ctx, "read INFORMATION_SCHEMA", func(ctx context.Context) error {
		clear(out)
		return c.Single().Query(ctx, spanner.Statement{SQL: sql}).Do(func(r *spanner.Row) error {
			var n string
			if err := r.Columns(&n); err != nil {
				return err
			}
			out[n] = true
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read Spanner INFORMATION_SCHEMA: %s", oneLine(spanner.ErrDesc(err)))
	}
	return out, nil
}

// ApplyDDL runs DDL statements and waits for them. A schema change that
// Spanner rejects because another schema change or a read-write transaction
// is in progress (live traffic) is tried again within the context's target
// retry window, as is an unavailable target; each retry is logged.
func ApplyDDL(ctx context.Context, db string, stmts []string) error {
	if len(stmts) == 0 {
		return nil
	}
	adm, err := database.NewDatabaseAdminClient(ctx)
	if err != nil {
		return err
	}
	defer adm.Close()
	p := policyOf(ctx)
	err = p.Do(ctx, func(err error) bool { return Transient(err) || ConcurrentSchemaChange(err) }, func(ev retry.Event) {
		slog.Default().Warn("schema change not applied yet; retrying", "cause", oneLine(spanner.ErrDesc(ev.Err)),
			"attempt", ev.Attempt, "wait", ev.Wait.Round(time.Millisecond), "left", ev.Left.Round(time.Second))
	}, func(ctx context.Context) error {
		op, err := adm.UpdateDatabaseDdl(ctx, &databasepb.UpdateDatabaseDdlRequest{Database: db, Statements: stmts})
		if err != nil {
			return err
		}
		return op.Wait(ctx)
	})
	var ex *retry.ExhaustedError
	if errors.As(err, &ex) {
		err = ex.Err
	}
	if err != nil {
		return fmt.Errorf("apply DDL: %s", oneLine(spanner.ErrDesc(err)))
	}
	return nil
}

// ConcurrentSchemaChange reports Spanner refusing DDL because another
// schema change or a read-write transaction is in progress.
func ConcurrentSchemaChange(err error) bool {
	if spanner.ErrCode(err) != codes.FailedPrecondition && spanner.ErrCode(err) != codes.Aborted {
		return false
	}
	d := strings.ToLower(spanner.ErrDesc(err))
	return strings.Contains(d, "concurrent schema change") || strings.Contains(d, "already in progress")
}

// CountTimeout bounds one attempt of Count.
const CountTimeout = 10 * time.Minute

// Count returns the number of rows in a table.
func Count(ctx context.Context, db, table string) (int64, error) {
	c, err := Client(ctx, db)
	if err != nil {
		return 0, err
	}
	var n int64
	// A count scans the table: its attempts get far longer than a call's.
	err = do(ctx, "count "+table, CountTimeout, func(ctx context.Context) error {
		it := c.Single().Query(ctx, spanner.Statement{SQL: "SELECT COUNT(*) FROM " + quote(table)})
		defer it.Stop()
		r, err := it.Next()
		if err != nil {
			return err
		}
		return r.Columns(&n)
	})
	return n, err
}

// Any reports whether a table holds at least one row.
func Any(ctx context.Context, db, table string) (bool, error) {
	c, err := Client(ctx, db)
	if err != nil {
		return false, err
	}
	var found bool
	err = Do(ctx, "read "+table, func(ctx context.Context) error {
		it := c.Single().Query(ctx, spanner.Statement{SQL: "SELECT 1 FROM " + quote(table) + " LIMIT 1"})
		defer it.Stop()
		_, err := it.Next()
		if err == iterator.Done {
			found = false
			return nil
		}
		found = err == nil
		return err
	})
	return found, err
}

func quote(s string) string { return "`" + strings.ReplaceAll(s, "`", "\\`") + "`" }

// emulatorPolicy retries the emulator's stand-ins for ABORTED quickly:
// they come from its one-transaction-at-a-time rule, not from an outage.
var emulatorPolicy = retry.Policy{Initial: 5 * time.Millisecond, Max: 500 * time.Millisecond, Attempts: 60, Window: -1}

// ReadWrite runs f in a read-write transaction, riding out an unavailable
// target within the context's retry window (see Do) and, against the
// emulator, its contention stand-ins. f may run more than once and must be
// idempotent: every transaction of this project is, so a commit whose
// outcome is unknown is simply run again.
func ReadWrite(ctx context.Context, c *spanner.Client, f func(context.Context, *spanner.ReadWriteTransaction) error) (time.Time, error) {
	var ts time.Time
	timeout := AttemptTimeout
	if Emulator() {
		timeout = 0 // each emulator attempt has its own, shorter deadline
	}
	err := do(ctx, "commit", timeout, func(ctx context.Context) error {
		t, err := readWriteOnce(ctx, c, f)
		ts = t
		return err
	})
	return ts, err
}

func readWriteOnce(ctx context.Context, c *spanner.Client, f func(context.Context, *spanner.ReadWriteTransaction) error) (time.Time, error) {
	if !Emulator() {
		return c.ReadWriteTransaction(ctx, f)
	}
	var ts time.Time
	err := emulatorPolicy.Do(ctx, EmulatorRetryable, nil,
		func(ctx context.Context) error {
			// The emulator sometimes never answers a transaction's RPC,
			// and when it is down the client's BeginTransaction retries
			// for up to 30 s whatever our deadline: the attempt runs
			// beside us, and at its deadline we stop waiting for it — a
			// stall, which the outage loop logs and retries. The abandoned
			// attempt keeps the semaphore until it returns, so no two runs
			// of f ever overlap; once abandoned, it never starts f again.
			// (A commit that did land is harmless to redo: every
			// transaction of this project is idempotent.)
			actx, cancel := context.WithTimeout(ctx, EmulatorAttemptTimeout)
			defer cancel()
			select {
			case emulatorTxn <- struct{}{}:
			case <-actx.Done():
				if ctx.Err() == nil {
					return fmt.Errorf("%w (%s): waiting for this process's previous transaction", errStalled, EmulatorAttemptTimeout)
				}
				return ctx.Err()
			}
			var abandoned atomic.Bool
			type result struct {
				ts  time.Time
				err error
			}
			done := make(chan result, 1)
			go func() {
				defer func() { <-emulatorTxn }()
				t, err := c.ReadWriteTransaction(actx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
					if abandoned.Load() {
						return errStalled
					}
					return f(ctx, tx)
				})
				done <- result{t, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-actx.Done():
				abandoned.Store(true)
				r.err = actx.Err()
			}
			if r.err != nil && actx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
				return fmt.Errorf("%w (%s): %w", errStalled, EmulatorAttemptTimeout, r.err)
			}
			ts = r.ts
			return r.err
		})
	var ex *retry.ExhaustedError
	if errors.As(err, &ex) {
		return time.Time{}, fmt.Errorf("emulator kept rejecting the transaction: %w", ex.Err)
	}
	return ts, err
}

// EmulatorRetryable reports the emulator's stand-ins for ABORTED.
func EmulatorRetryable(err error) bool {
	switch spanner.ErrCode(err) {
	case codes.Aborted:
		return true
	case codes.NotFound:
		return strings.Contains(spanner.ErrDesc(err), "Transaction not found") ||
			strings.Contains(spanner.ErrDesc(err), "transaction not found")
	case codes.FailedPrecondition:
		return strings.Contains(spanner.ErrDesc(err), "Invalid transaction ID") ||
			strings.Contains(spanner.ErrDesc(err), "invalid transaction")
	}
	return false
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
