package ratelimit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// threadsRunning reads Threads_running, less the probe's own thread.
type threadsRunning struct {
	pc        *probeConn
	max, crit float64
	perVCPU   int // divide by this many vCPUs; 0: absolute
}

func (p *threadsRunning) name() string               { return "threads_running" }
func (p *threadsRunning) unit() string               { return "" }
func (p *threadsRunning) limits() (float64, float64) { return p.max, p.crit }
func (p *threadsRunning) close()                     {}

func (p *threadsRunning) read(ctx context.Context) (float64, error) {
	var name, val string
	err := p.pc.do(ctx, func(c *sql.Conn) error {
		return c.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Threads_running'").Scan(&name, &val)
	})
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseFloat(val, 64)
	if err != nil {
		return 0, fmt.Errorf("Threads_running is %q, not a number", val)
	}
	n = max(0, n-1)
	if p.perVCPU > 0 {
		n /= float64(p.perVCPU)
	}
	return n, nil
}

// replicaLag reads how far each replica is behind and returns the largest.
type replicaLag struct {
	targets   []lagTarget
	max, crit float64
}

type lagTarget struct {
	label string // host:port of the replica, or "source"
	pc    *probeConn
	own   *sql.DB // opened by the probe, closed with it
}

func (p *replicaLag) name() string               { return "replica_lag" }
func (p *replicaLag) unit() string               { return "s" }
func (p *replicaLag) limits() (float64, float64) { return p.max, p.crit }

func (p *replicaLag) close() {
	for _, t := range p.targets {
		if t.own != nil {
			t.pc.close()
			t.own.Close()
		}
	}
}

func (p *replicaLag) read(ctx context.Context) (float64, error) {
	worst := 0.0
	for _, t := range p.targets {
		var cols []string
		var rows [][]sql.NullString
		err := t.pc.do(ctx, func(c *sql.Conn) error {
			var err error
			cols, rows, err = showReplicaStatus(ctx, c)
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("%s: %v", t.label, err)
		}
		lag, err := interpretReplicaStatus(cols, rows)
		if err != nil {
			return 0, fmt.Errorf("%s: %v", t.label, err)
		}
		worst = max(worst, lag)
	}
	return worst, nil
}

// showReplicaStatus runs SHOW REPLICA STATUS, or SHOW SLAVE STATUS on a
// server that does not know the newer words (MySQL < 8.0.22, MariaDB < 10.5).
func showReplicaStatus(ctx context.Context, c *sql.Conn) ([]string, [][]sql.NullString, error) {
	rs, err := c.QueryContext(ctx, "SHOW REPLICA STATUS")
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1064 {
		rs, err = c.QueryContext(ctx, "SHOW SLAVE STATUS")
	}
	if err != nil {
		return nil, nil, err
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return nil, nil, err
	}
	var out [][]sql.NullString
	for rs.Next() {
		row := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		out = append(out, row)
	}
	return cols, out, rs.Err()
}

// errNotReplica: the server answered SHOW REPLICA STATUS with no rows.
var errNotReplica = errors.New("not a replica (SHOW REPLICA STATUS returned no rows); list the replicas under throttle.replica_lag.replicas")

// interpretReplicaStatus turns SHOW REPLICA/SLAVE STATUS rows into the lag
// in seconds: the largest Seconds_Behind_Source (or _Master) over all rows
// (channels). A NULL lag means replication is not running, which is an
// error: the lag is unknown and may be growing. Last_Error is never copied
// into the message: it can quote row values.
func interpretReplicaStatus(cols []string, rows [][]sql.NullString) (float64, error) {
	if len(rows) == 0 {
		return 0, errNotReplica
	}
	idx := func(names ...string) int {
		for _, n := range names {
			for i, c := range cols {
				if strings.EqualFold(c, n) {
					return i
				}
			}
		}
		return -1
	}
	lagCol := idx("Seconds_Behind_Source", "Seconds_Behind_Master")
	if lagCol < 0 {
		return 0, errors.New("SHOW REPLICA STATUS has no Seconds_Behind_Source or Seconds_Behind_Master column")
	}
	ioCol := idx("Replica_IO_Running", "Slave_IO_Running")
	sqlCol := idx("Replica_SQL_Running", "Slave_SQL_Running")
	chanCol := idx("Channel_Name", "Connection_name")
	get := func(row []sql.NullString, i int) string {
		if i < 0 || !row[i].Valid {
			return "?"
		}
		return row[i].String
	}
	worst := 0.0
	for _, row := range rows {
		channel := ""
		if chanCol >= 0 && row[chanCol].Valid && row[chanCol].String != "" {
			channel = fmt.Sprintf(" (channel %q)", row[chanCol].String)
		}
		if !row[lagCol].Valid {
			return 0, fmt.Errorf("replication is not running%s: IO thread %s, SQL thread %s; lag unknown", channel, get(row, ioCol), get(row, sqlCol))
		}
		v, err := strconv.ParseFloat(row[lagCol].String, 64)
		if err != nil {
			return 0, fmt.Errorf("replica lag %q%s is not a number", row[lagCol].String, channel)
		}
		worst = max(worst, v)
	}
	return worst, nil
}

// historyList reads InnoDB's history list length.
type historyList struct {
	pc        *probeConn
	max, crit float64
}

func (p *historyList) name() string               { return "history_list_length" }
func (p *historyList) unit() string               { return "" }
func (p *historyList) limits() (float64, float64) { return p.max, p.crit }
func (p *historyList) close()                     {}

var historyLine = regexp.MustCompile(`History list length (\d+)`)

func (p *historyList) read(ctx context.Context) (float64, error) {
	var v float64
	err := p.pc.do(ctx, func(c *sql.Conn) error {
		var err error
		v, err = readHistoryList(ctx, c)
		return err
	})
	return v, err
}

func readHistoryList(ctx context.Context, c *sql.Conn) (float64, error) {
	// INNODB_METRICS is cheap; its counter is on by default (MySQL: STATUS =
	// 'enabled', MariaDB: ENABLED = 1).
	rs, err := c.QueryContext(ctx, "SELECT * FROM information_schema.INNODB_METRICS WHERE NAME = 'trx_rseg_history_len'")
	if err == nil {
		cols, _ := rs.Columns()
		var v float64
		ok := false
		if rs.Next() {
			row := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range row {
				ptrs[i] = &row[i]
			}
			if err := rs.Scan(ptrs...); err == nil {
				on, count := false, ""
				for i, col := range cols {
					switch strings.ToUpper(col) {
					case "STATUS":
						on = on || strings.EqualFold(row[i].String, "enabled")
					case "ENABLED":
						on = on || row[i].String == "1"
					case "COUNT":
						count = row[i].String
					}
				}
				if f, err := strconv.ParseFloat(count, 64); err == nil && on {
					v, ok = f, true
				}
			}
		}
		rs.Close()
		if ok {
			return v, nil
		}
	} else if ctx.Err() != nil {
		return 0, err
	}
	// Fall back to the InnoDB monitor's text.
	var typ, name, status string
	if err := c.QueryRowContext(ctx, "SHOW ENGINE INNODB STATUS").Scan(&typ, &name, &status); err != nil {
		return 0, fmt.Errorf("neither INNODB_METRICS nor SHOW ENGINE INNODB STATUS answered (grant PROCESS): %v", err)
	}
	m := historyLine.FindStringSubmatch(status)
	if m == nil {
		return 0, errors.New("SHOW ENGINE INNODB STATUS has no \"History list length\" line")
	}
	return strconv.ParseFloat(m[1], 64)
}

// latency times a cheap query, in milliseconds.
type latency struct {
	pc        *probeConn
	query     string
	max, crit float64
}

func (p *latency) name() string               { return "latency" }
func (p *latency) unit() string               { return "ms" }
func (p *latency) limits() (float64, float64) { return p.max, p.crit }
func (p *latency) close()                     {}

func (p *latency) read(ctx context.Context) (float64, error) {
	var d time.Duration
	err := p.pc.do(ctx, func(c *sql.Conn) error {
		start := time.Now()
		rs, err := c.QueryContext(ctx, p.query)
		if err != nil {
			return err
		}
		for rs.Next() {
		}
		rs.Close()
		d = time.Since(start)
		return rs.Err()
	})
	if err != nil {
		return 0, err
	}
	return float64(d.Microseconds()) / 1000, nil
}

// custom runs a query that returns one number.
type custom struct {
	pc        *probeConn
	label     string
	query     string
	max, crit float64
}

func (p *custom) name() string               { return p.label }
func (p *custom) unit() string               { return "" }
func (p *custom) limits() (float64, float64) { return p.max, p.crit }
func (p *custom) close()                     {}

func (p *custom) read(ctx context.Context) (float64, error) {
	var v float64
	err := p.pc.do(ctx, func(c *sql.Conn) error {
		rs, err := c.QueryContext(ctx, p.query)
		if err != nil {
			return err
		}
		defer rs.Close()
		cols, err := rs.Columns()
		if err != nil {
			return err
		}
		if len(cols) != 1 {
			return probeResultErr{fmt.Sprintf("query returns %d columns; it must return one number", len(cols))}
		}
		if !rs.Next() {
			if err := rs.Err(); err != nil {
				return err
			}
			return probeResultErr{"query returns no row; it must return one number"}
		}
		var s sql.NullString
		if err := rs.Scan(&s); err != nil {
			return err
		}
		if rs.Next() {
			return probeResultErr{"query returns more than one row; it must return one number"}
		}
		if !s.Valid {
			return probeResultErr{"query returns NULL; it must return one number"}
		}
		v, err = strconv.ParseFloat(strings.TrimSpace(s.String), 64)
		if err != nil {
			return probeResultErr{"query returns something that is not a number"}
		}
		return rs.Err()
	})
	return v, err
}

// probeResultErr is a well-formed answer of the wrong shape; the message
// never quotes the value (a custom query might read user data).
type probeResultErr struct{ msg string }

func (e probeResultErr) Error() string { return e.msg }

// openReplica opens a small pool to a replica, with the source's
// credentials when Env.Connect is set.
func openReplica(ctx context.Context, env Env, dsn string) (*sql.DB, error) {
	var db *sql.DB
	var err error
	if env.Connect != nil {
		db, err = env.Connect(ctx, dsn)
	} else {
		db, err = sql.Open("mysql", dsn)
	}
	if err != nil {
		return nil, fmt.Errorf("throttle.replica_lag: open %s: %v", dsnHost(dsn), err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	return db, nil
}

func dsnHost(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil || cfg.Addr == "" {
		return "replica"
	}
	return cfg.Addr
}
