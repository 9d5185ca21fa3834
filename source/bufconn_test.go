package source_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/source"
)

// The pool's connections read the server through a buffer (bufConn), and
// still behave as the driver's own: rows far larger than the buffer read
// back intact, and an idle connection the server killed is noticed by the
// driver's liveness check before a query is sent on it, so the pool
// quietly takes another connection (no error reaches the caller).
func TestBufferedConnection(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	e.Exec(t, "CREATE TABLE big (id INT PRIMARY KEY, v LONGTEXT)",
		"INSERT INTO big SELECT seq, REPEAT(CHAR(65 + seq % 26), 1000 * seq) FROM seq_1_to_300")
	one := 1
	src := e.Spec().Source
	src.MaxConnections = &one
	db, err := source.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var rows, bytes int64
	err = (&source.Querier{DB: db}).Query(ctx, "", 0, "SELECT id, v FROM big ORDER BY id", nil, func(r *sql.Rows) (int, error) {
		rows, bytes = 0, 0
		for r.Next() {
			var id int64
			var v sql.RawBytes
			if err := r.Scan(&id, &v); err != nil {
				return int(rows), err
			}
			if int64(len(v)) != 1000*id || v[0] != byte(65+id%26) || v[len(v)-1] != v[0] {
				return int(rows), fmt.Errorf("row %d: %d bytes starting %q", id, len(v), v[:1])
			}
			rows++
			bytes += int64(len(v))
		}
		return int(rows), r.Err()
	})
	if err != nil || rows != 300 || bytes != 1000*300*301/2 {
		t.Fatalf("read %d rows, %d bytes: %v", rows, bytes, err)
	}

	// Kill the pool's one (idle) connection from another session.
	var id int64
	if err := db.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.MySQL.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id)); err != nil {
		t.Fatal(err)
	}
	// KILL returns before the server has closed the socket: wait for it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var n int
		if err := e.MySQL.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection %d still listed 10 s after KILL", id)
		}
	}
	// Without the liveness check the query would go out on the dead
	// connection and fail with the driver's ErrInvalidConn.
	var again int64
	if err := db.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&again); err != nil {
		if errors.Is(err, mysql.ErrInvalidConn) {
			t.Fatalf("the killed idle connection was used: %v", err)
		}
		t.Fatal(err)
	}
	if again == id {
		t.Fatalf("still on the killed connection %d", id)
	}
}
