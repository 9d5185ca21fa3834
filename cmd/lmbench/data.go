package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/source"
	"github.com/livemigrate/livemigrate/spec"
)

// stack holds the local stack's coordinates, read from the environment
// that .stack/env exports (make bench sources it).
type stack struct {
	MySQLAddr    string
	MySQLUser    string
	PasswordFile string
	EmulatorHost string
	EmulatorREST string
	Project      string
	Instance     string
	// Root is the repository (for scripts/stack.sh).
	Root string

	emulatorPort int // the fresh emulator's gRPC port, when started
	// restartEmulator, with a fresh emulator, replaces it by a new one
	// (nil otherwise).
	restartEmulator func() error
}

// freshTarget gives the next write measurement an emulator of its own
// when the benchmark runs one: the emulator keeps the memory of dropped
// databases (measured: 0.9 GB → 7 GB over one 1M-row size), and a
// measurement run after others would pay for their rows.
func (s *stack) freshTarget(logw io.Writer, what string) error {
	if s.restartEmulator == nil {
		return nil
	}
	start := time.Now()
	if err := s.restartEmulator(); err != nil {
		return fmt.Errorf("restart the emulator before %s: %w", what, err)
	}
	logf(logw, "%s: fresh emulator in %.1fs", what, time.Since(start).Seconds())
	return nil
}

func loadStack() (*stack, error) {
	s := &stack{
		MySQLAddr:    os.Getenv("LM_MYSQL_ADDR"),
		MySQLUser:    os.Getenv("LM_MYSQL_USER"),
		PasswordFile: os.Getenv("LM_MYSQL_PASSWORD_FILE"),
		EmulatorHost: os.Getenv("SPANNER_EMULATOR_HOST"),
		EmulatorREST: os.Getenv("LM_SPANNER_EMULATOR_REST"),
		Project:      os.Getenv("LM_SPANNER_PROJECT"),
		Instance:     os.Getenv("LM_SPANNER_INSTANCE"),
	}
	var missing []string
	for name, v := range map[string]string{"LM_MYSQL_ADDR": s.MySQLAddr, "LM_MYSQL_USER": s.MySQLUser,
		"LM_MYSQL_PASSWORD_FILE": s.PasswordFile, "SPANNER_EMULATOR_HOST": s.EmulatorHost,
		"LM_SPANNER_PROJECT": s.Project, "LM_SPANNER_INSTANCE": s.Instance} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("local stack coordinates missing (%s): run `make up` and `. .stack/env`, or use `make bench`", strings.Join(missing, ", "))
	}
	if s.EmulatorREST == "" {
		host, _, _ := strings.Cut(s.EmulatorHost, ":")
		s.EmulatorREST = "http://" + host + ":19020"
	}
	s.Root, _ = os.Getwd()
	if _, err := os.Stat(filepath.Join(s.Root, "scripts", "stack.sh")); err != nil {
		if d := os.Getenv("LM_STACK_DIR"); d != "" {
			s.Root = filepath.Dir(d)
		}
	}
	return s, nil
}

// src is the spec source of a benchmark database: a DSN without password,
// the password read from the stack's file when the pool opens.
func (s *stack) src(db string) spec.Source {
	return spec.Source{DSN: fmt.Sprintf("%s@tcp(%s)/%s", s.MySQLUser, s.MySQLAddr, db), PasswordFile: s.PasswordFile}
}

func (s *stack) spannerDB(id string) string {
	return fmt.Sprintf("projects/%s/instances/%s/databases/%s", s.Project, s.Instance, id)
}

// createSpannerDB creates an emulator database with its DDL through the
// REST admin API (the emulator completes the operation synchronously).
func (s *stack) createSpannerDB(ctx context.Context, id string, ddl []string) error {
	url := fmt.Sprintf("%s/v1/projects/%s/instances/%s/databases", s.EmulatorREST, s.Project, s.Instance)
	body, _ := json.Marshal(map[string]any{"createStatement": "CREATE DATABASE `" + id + "`", "extraStatements": ddl})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("create Spanner database %s: %w (run `make up`)", id, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("create Spanner database %s: HTTP %d: %s", id, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	// Wait until the schema answers (the operation is done on the emulator,
	// but be tolerant of a slow one).
	var op struct {
		Done  bool            `json:"done"`
		Error json.RawMessage `json:"error"`
	}
	_ = json.Unmarshal(msg, &op)
	if len(op.Error) > 0 {
		return fmt.Errorf("create Spanner database %s: %s", id, op.Error)
	}
	return nil
}

func (s *stack) dropSpannerDB(id string) {
	url := fmt.Sprintf("%s/v1/projects/%s/instances/%s/databases/%s", s.EmulatorREST, s.Project, s.Instance, id)
	req, _ := http.NewRequest(http.MethodDelete, url, nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// benchTable is one generated table.
type benchTable struct {
	Name string
	Rows int64
	DDL  string
	Fill string // INSERT ... SELECT ... FROM seq_1_to_{N}
}

// tablesFor returns the generated tables of a run of n rows: items (n rows,
// single BIGINT key) and item_events (n/4 rows, composite key).
func tablesFor(n int64) []benchTable {
	ev := n / 4
	if ev < 1 {
		ev = 1
	}
	return []benchTable{
		{Name: "items", Rows: n, DDL: `CREATE TABLE items (
  id BIGINT NOT NULL PRIMARY KEY,
  account_id INT NOT NULL,
  sku VARCHAR(32) NOT NULL,
  name VARCHAR(100) NOT NULL,
  price DECIMAL(12,2) NOT NULL,
  qty INT NOT NULL,
  weight DOUBLE NOT NULL,
  created_at DATETIME(6) NOT NULL,
  note TEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
			Fill: `INSERT INTO items
SELECT seq, seq % 1000, CONCAT('SKU-', LPAD(seq, 10, '0')), CONCAT('item ', MD5(seq)),
       (seq % 100000) / 100, seq % 50, (seq % 997) * 0.37,
       TIMESTAMP('2020-01-01 00:00:00') + INTERVAL seq SECOND + INTERVAL (seq * 7919) % 1000000 MICROSECOND,
       REPEAT(MD5(seq), 1 + seq % 6)
FROM seq_1_to_{N}`},
		{Name: "item_events", Rows: ev, DDL: `CREATE TABLE item_events (
  account_id INT NOT NULL,
  event_no BIGINT NOT NULL,
  kind VARCHAR(16) NOT NULL,
  amount DECIMAL(14,4) NOT NULL,
  happened_at DATETIME(6) NOT NULL,
  payload TEXT NOT NULL,
  PRIMARY KEY (account_id, event_no)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
			Fill: `INSERT INTO item_events
SELECT seq % 997, seq, ELT(1 + seq % 4, 'view', 'cart', 'buy', 'refund'), (seq % 1000003) / 10000,
       TIMESTAMP('2021-06-01 00:00:00') + INTERVAL seq * 3 SECOND + INTERVAL (seq * 104729) % 1000000 MICROSECOND,
       CONCAT('{"event":', seq, ',"ref":"', SHA1(seq), '"}')
FROM seq_1_to_{N}`},
	}
}

// dataset is one run's generated MySQL database and its table plans.
type dataset struct {
	DB     string
	Tables []benchTable
	Plans  []schema.TablePlan
	// Job is the resolved job configuration over the dataset (every
	// measurement sets its own target database); VerifyJob the same
	// resolved as a verify job (livemigrate verify's defaults).
	Job       config.Job
	VerifyJob config.Job
	Rows      int64
	Pool      *sql.DB
	GenSec    float64
}

// generate creates database name with the tables of a run of n rows.
func (s *stack) generate(ctx context.Context, name string, n int64, o *options) (*dataset, error) {
	admin, err := source.Open(ctx, s.src(""))
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		return nil, fmt.Errorf("create MySQL database %s: %w", name, err)
	}
	pool, err := source.Open(ctx, s.src(name))
	if err != nil {
		return nil, err
	}
	d := &dataset{DB: name, Tables: tablesFor(n), Pool: pool}
	start := time.Now()
	bs := &spec.Spec{Source: s.src(name)}
	var introspected []*schema.Table
	for _, t := range d.Tables {
		if _, err := pool.ExecContext(ctx, t.DDL); err != nil {
			return d, fmt.Errorf("create %s: %w", t.Name, err)
		}
		if _, err := pool.ExecContext(ctx, strings.ReplaceAll(t.Fill, "{N}", fmt.Sprint(t.Rows))); err != nil {
			return d, fmt.Errorf("fill %s: %w", t.Name, err)
		}
		if _, err := pool.ExecContext(ctx, "ANALYZE TABLE `"+t.Name+"`"); err != nil {
			return d, fmt.Errorf("analyze %s: %w", t.Name, err)
		}
		ti, err := schema.Introspect(ctx, pool, name, t.Name)
		if err != nil {
			return d, err
		}
		bs.Tables = append(bs.Tables, spec.Table{Source: t.Name, Target: t.Name})
		introspected = append(introspected, ti)
		d.Rows += t.Rows
	}
	if d.Job, err = config.Resolve(bs, introspected, o.overrides()); err != nil {
		return d, err
	}
	vo := o.overrides()
	vo.Verify = &config.Verify{Settle: config.DefaultSettle, Rounds: config.DefaultRounds, MaxDiffs: config.DefaultMaxDiffs}
	if d.VerifyJob, err = config.Resolve(bs, introspected, vo); err != nil {
		return d, err
	}
	d.Plans = d.Job.Plans()
	d.GenSec = time.Since(start).Seconds()
	return d, nil
}

func (s *stack) dropMySQL(ctx context.Context, d *dataset) {
	if d.Pool != nil {
		d.Pool.Close()
	}
	admin, err := source.Open(ctx, s.src(""))
	if err != nil {
		fmt.Fprintf(os.Stderr, "lmbench: drop MySQL database %s: %v\n", d.DB, err)
		return
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+d.DB+"`"); err != nil {
		fmt.Fprintf(os.Stderr, "lmbench: drop MySQL database %s: %v\n", d.DB, err)
	}
}

// dataDDL is the Spanner DDL of the data tables (what `plan --apply` creates).
func dataDDL(plans []schema.TablePlan) []string {
	var out []string
	for i := range plans {
		out = append(out, plans[i].CreateTableDDL())
		out = append(out, plans[i].IndexDDL()...)
	}
	return out
}

// overrides are the livemigrate settings lmbench gives: the page size,
// and the lanes and the workers' GOGC when set (0: livemigrate's default).
func (o *options) overrides() config.Overrides {
	page := o.PageRows
	c := config.Overrides{PageRows: &page}
	if o.Lanes > 0 {
		lanes := o.Lanes
		c.Lanes = &lanes
	}
	if o.GCPercent > 0 {
		gc := o.GCPercent
		c.GCPercent = &gc
	}
	return c
}
