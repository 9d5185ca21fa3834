// Package source owns connections to the MySQL source.
//
// The one idea: every connection is opened the same way, from the spec's
// secret-free DSN plus a password fetched at open time, with the session
// pinned (time_zone UTC, binary protocol, no client-side interpolation) so a
// value reads the same on every worker, and the socket read in 64 KiB
// pieces (bufconn.go); and each worker process shares one pool per source
// whose size is the connection cap.
package source

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/livemigrate/livemigrate/spec"
)

// DefaultMaxConnections caps source connections per worker process when the
// spec does not say.
const DefaultMaxConnections = 8

var (
	poolsMu sync.Mutex
	pools   = map[string]*sql.DB{}
)

// Pool returns the process-wide pool for src, opening it on first use.
// Pools are keyed by DSN, so every DoFn of a job on a worker shares one cap.
func Pool(ctx context.Context, src spec.Source) (*sql.DB, error) {
	poolsMu.Lock()
	defer poolsMu.Unlock()
	key := fmt.Sprintf("%s|%d", src.DSN, MaxConnections(src))
	if db, ok := pools[key]; ok {
		return db, nil
	}
	db, err := Open(ctx, src)
	if err != nil {
		return nil, err
	}
	pools[key] = db
	return db, nil
}

// MaxConnections is the per-process connection cap of src.
func MaxConnections(src spec.Source) int {
	if src.MaxConnections != nil && *src.MaxConnections > 0 {
		return *src.MaxConnections
	}
	return DefaultMaxConnections
}

// Open opens and pings a new pool.
func Open(ctx context.Context, src spec.Source) (*sql.DB, error) {
	cfg, err := Config(ctx, src)
	if err != nil {
		return nil, err
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	n := MaxConnections(src)
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, Explain(cfg.Addr, err)
	}
	return db, nil
}

// Config builds the driver config for src, password included: the
// password is fetched here, in the process that opens the connection.
func Config(ctx context.Context, src spec.Source) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(src.DSN)
	if err != nil {
		return nil, fmt.Errorf("source.dsn is not a valid MySQL DSN")
	}
	pw, err := src.Password(ctx)
	if err != nil {
		return nil, err
	}
	cfg.Passwd = pw
	cfg.ParseTime = false
	cfg.InterpolateParams = false
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// TIMESTAMP values are rendered in the session zone: pin it to UTC.
	cfg.Params["time_zone"] = "'+00:00'"
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	switch cfg.Net {
	case "tcp", "tcp4", "tcp6", "unix":
		// (A network registered with mysql.RegisterDialContext keeps its
		// own dialer.)
		cfg.DialFunc = dial
	}
	return cfg, nil
}

// UnreachableError says the source could not be reached or refused us.
type UnreachableError struct {
	Addr string
	Err  error // the one-line reason shown
	// cause is the driver's own error, kept for errors.Is/As (Retryable).
	cause error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot connect to MySQL at %s: %v; check source.dsn, the password source and that the server is running", e.Addr, e.Err)
}
func (e *UnreachableError) Unwrap() error {
	if e.cause != nil {
		return e.cause
	}
	return e.Err
}

// BadInput marks the error as the operator's to fix (exit 2).
func (e *UnreachableError) BadInput() bool { return true }

// Explain turns a connect error into one operator-facing line.
func Explain(addr string, err error) error {
	var me *mysql.MySQLError
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &me):
		return &UnreachableError{Addr: addr, Err: fmt.Errorf("%s", me.Message), cause: err}
	case errors.As(err, &oe):
		msg := oe.Err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return &UnreachableError{Addr: addr, Err: errors.New(msg), cause: err}
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded):
		return &UnreachableError{Addr: addr, Err: errors.New("timed out"), cause: err}
	}
	return &UnreachableError{Addr: addr, Err: err}
}

// QuoteIdent quotes a MySQL identifier.
func QuoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
