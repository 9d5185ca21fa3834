package source

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"

	"github.com/go-sql-driver/mysql"

	"github.com/livemigrate/livemigrate/ratelimit"
	"github.com/livemigrate/livemigrate/retry"
)

// Querier is the engine's one door to the source. Every query the engine
// sends — planning, paging, re-validation, counting — goes through Query,
// which asks the gate first (before a connection is taken from the pool,
// so a throttled or paused worker holds no connection), retries transient
// failures with one backoff policy, and reuses one prepared statement per
// query text (the binary protocol, without a prepare round trip per page).
type Querier struct {
	DB    *sql.DB
	Gate  ratelimit.Gate
	Retry retry.Policy
	// OnRetry hears about every retry (for the log); may be nil.
	OnRetry func(retry.Event)

	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// maxStmts bounds the statement cache; past it the cache starts over.
const maxStmts = 512

// Query runs query with args and hands the result to fn, which iterates it
// and returns how many rows it consumed. fn is called once per attempt and
// must start from scratch each time (a retried page must not keep the
// rows of a failed attempt). kind and rows tell the gate what the query is
// and how many rows it expects to read.
func (q *Querier) Query(ctx context.Context, kind ratelimit.Kind, rows int, query string, args []any, fn func(*sql.Rows) (int, error)) error {
	return q.QueryCounting(ctx, kind, rows, query, args, nil, fn)
}

// QueryCounting is Query that also adds the number of retries it made to
// *retries (when not nil).
func (q *Querier) QueryCounting(ctx context.Context, kind ratelimit.Kind, rows int, query string, args []any, retries *int, fn func(*sql.Rows) (int, error)) error {
	gate := q.Gate
	if gate == nil {
		gate = ratelimit.Unlimited{}
	}
	onRetry := q.OnRetry
	if retries != nil {
		onRetry = func(e retry.Event) {
			*retries++
			if q.OnRetry != nil {
				q.OnRetry(e)
			}
		}
	}
	return q.Retry.Do(ctx, Retryable, onRetry, func(ctx context.Context) error {
		release, err := gate.Acquire(ctx, kind, rows)
		if err != nil {
			return err
		}
		n, err := q.once(ctx, query, args, fn)
		release(n)
		return err
	})
}

// QueryRow runs a query returning at most one row and scans it into dest;
// ok is false when there was no row.
func (q *Querier) QueryRow(ctx context.Context, kind ratelimit.Kind, query string, args []any, dest ...any) (ok bool, err error) {
	err = q.Query(ctx, kind, 1, query, args, func(r *sql.Rows) (int, error) {
		ok = false
		if !r.Next() {
			return 0, r.Err()
		}
		ok = true
		return 1, r.Scan(dest...)
	})
	return ok, err
}

func (q *Querier) once(ctx context.Context, query string, args []any, fn func(*sql.Rows) (int, error)) (int, error) {
	stmt, err := q.stmt(ctx, query)
	if err != nil {
		return 0, err
	}
	r, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	n, err := fn(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.Err()
	}
	return n, err
}

func (q *Querier) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	q.mu.Lock()
	s, ok := q.stmts[query]
	q.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := q.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if prev, ok := q.stmts[query]; ok {
		s.Close()
		return prev, nil
	}
	if q.stmts == nil || len(q.stmts) >= maxStmts {
		for _, old := range q.stmts {
			old.Close()
		}
		q.stmts = map[string]*sql.Stmt{}
	}
	q.stmts[query] = s
	return s, nil
}

// Close releases the cached statements (not the pool, which is shared).
func (q *Querier) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range q.stmts {
		s.Close()
	}
	q.stmts = nil
}

// Retryable reports source errors after which a query can simply be asked
// again: lost, killed or refused connections (a server restart), deadlocks
// and lock waits, a server shutting down or out of connections.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, 1053, 1205, 1213, 1317, 1927, 2006, 2013, 1158, 1159, 1160, 1161, 1184:
			return true
		}
		return false
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "broken pipe") || strings.Contains(s, "bad connection") ||
		strings.Contains(s, "connection refused")
}
