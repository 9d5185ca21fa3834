// Package checkpoint owns a backfill job's state: one table in the target
// Spanner database, livemigrate_progress, that holds every table's chunk
// plan, which chunks are done and how far running ones got, and one job row
// per job with its status (running, stopping, interrupted, failed, done),
// the lease of the run that holds it (holder, host, pid, heartbeat) and its
// last error (job.go).
//
// The one idea: the plan is stored, not recomputed. The first run of a job
// writes each table's chunks (bounds and planned rows) before copying any of
// them, and a header row per table last, so a plan is either complete or
// absent. A rerun with the same job id reads the stored plan back and copies
// only chunks not marked done. Recomputing the plan would need the same data
// to give the same boundaries, which a live table does not; a stored plan
// always tiles the key space exactly once, whatever happened to the rows.
// A chunk is marked done after its rows are committed, so a crash can only
// make a chunk be copied twice, which the insert-if-absent writer makes
// harmless, never make a chunk be skipped. Because the table lives next to
// the data, `livemigrate status` works for a job running anywhere, and the
// job row is where a run and every worker of it meet: the lease keeps a
// second run out, and a chunk in flight reads there, with each progress
// heartbeat, whether it must stop. The table is created (or upgraded) by
// `plan --apply`, never by the backfill next to live traffic (Upgrade).
package checkpoint

import (
	"context"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/api/iterator"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/target"
)

// Table is the progress table's name in the target database.
const Table = "livemigrate_progress"

// HeaderID is the ChunkId of a table's header row: written after all the
// table's chunk rows, it says the stored plan is complete.
const HeaderID = -1

// Chunk statuses.
const (
	StatusPlanned = "planned" // header row
	StatusPending = "pending"
	StatusRunning = "running" // a run is copying it; RowsRead counts its rows so far
	StatusDone    = "done"
)

// DDL creates the progress table. Key bounds are chunking.EncodeKey bytes;
// they are never printed. Besides chunk and header rows it holds one job
// row per job (TableName "", see job.go): status, the lease (Holder, Host,
// Pid, Heartbeat) and the last error.
var DDL = `CREATE TABLE ` + Table + ` (
  JobId STRING(128) NOT NULL,
  TableName STRING(256) NOT NULL,
  ChunkId INT64 NOT NULL,
  ChunkOf INT64 NOT NULL,
  KeyColumns STRING(MAX),
  LowerKey BYTES(MAX),
  UpperKey BYTES(MAX),
  Status STRING(16) NOT NULL,
  PlannedRows INT64 NOT NULL,
  RowsRead INT64,
  RowsWritten INT64,
  PlannedAt TIMESTAMP NOT NULL,
  StartedAt TIMESTAMP,
  DoneAt TIMESTAMP OPTIONS (allow_commit_timestamp = true),
  Holder STRING(64),
  Host STRING(256),
  Pid INT64,
  Heartbeat TIMESTAMP OPTIONS (allow_commit_timestamp = true),
  LastError STRING(MAX),
) PRIMARY KEY (JobId, TableName, ChunkId)`

// addedColumns are the columns later versions added to the first layout,
// with their DDL type: Upgrade adds those an existing table lacks.
var addedColumns = [][2]string{
	{"Holder", "STRING(64)"},
	{"Host", "STRING(256)"},
	{"Pid", "INT64"},
	{"Heartbeat", "TIMESTAMP OPTIONS (allow_commit_timestamp = true)"},
	{"LastError", "STRING(MAX)"},
}

// Upgrade returns the DDL that brings db's progress table to this version:
// the CREATE TABLE when it is missing, an ALTER TABLE ... ADD COLUMN for
// every column a table created by an earlier version lacks, nothing when it
// is current. `plan --apply` runs it; backfill refuses to start while it is
// not empty.
func Upgrade(ctx context.Context, db string) ([]string, error) {
	cols, err := target.Names(ctx, db, "SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = '' AND TABLE_NAME = '"+Table+"'")
	if err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return []string{DDL}, nil
	}
	var out []string
	for _, c := range addedColumns {
		if !cols[c[0]] {
			out = append(out, "ALTER TABLE "+Table+" ADD COLUMN "+c[0]+" "+c[1])
		}
	}
	return out, nil
}

// Ensure creates or upgrades the progress table (tests and the benchmark;
// the CLI does this in `plan --apply`).
func Ensure(ctx context.Context, db string) error {
	stmts, err := Upgrade(ctx, db)
	if err != nil {
		return err
	}
	if err := target.ApplyDDL(ctx, db, stmts); err != nil && !strings.Contains(err.Error(), "Duplicate name") &&
		!strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("create progress table %s: %w", Table, err)
	}
	return nil
}

// Plan is a table's stored plan.
type Plan struct {
	Chunks     []chunking.Chunk
	Done       map[int]bool
	KeyColumns string
}

// Load reads the stored plan of job's table. ok is false when the table
// has no complete plan yet.
func Load(ctx context.Context, c *spanner.Client, job, table string) (p Plan, ok bool, err error) {
	err = target.Do(ctx, "read "+Table, func(ctx context.Context) error {
		var err error
		p, ok, err = load(ctx, c, job, table)
		return err
	})
	return p, ok, err
}

func load(ctx context.Context, c *spanner.Client, job, table string) (p Plan, ok bool, err error) {
	it := c.Single().Read(ctx, Table, spanner.KeyRange{Start: spanner.Key{job, table}, End: spanner.Key{job, table}, Kind: spanner.ClosedClosed},
		[]string{"ChunkId", "ChunkOf", "KeyColumns", "LowerKey", "UpperKey", "Status", "PlannedRows"})
	defer it.Stop()
	p.Done = map[int]bool{}
	of := -1
	for {
		r, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			return p, false, err
		}
		var id, n, rows int64
		var keyCols spanner.NullString
		var lower, upper []byte
		var status string
		if err := r.Columns(&id, &n, &keyCols, &lower, &upper, &status, &rows); err != nil {
			return p, false, err
		}
		if id == HeaderID {
			of, p.KeyColumns = int(n), keyCols.StringVal
			continue
		}
		p.Chunks = append(p.Chunks, chunking.Chunk{Table: table, ID: int(id), Of: int(n), Lower: lower, Upper: upper, Rows: rows})
		if status == StatusDone {
			p.Done[int(id)] = true
		}
	}
	if of < 0 {
		return p, false, nil
	}
	if len(p.Chunks) != of {
		return p, false, fmt.Errorf("progress of table %s: header says %d chunks, %d stored", table, of, len(p.Chunks))
	}
	return p, true, nil
}

// maxRowsPerCommit keeps a plan commit far under Spanner's 80,000 mutations.
const maxRowsPerCommit = 2000

// Save stores a table's plan: it clears any partial plan, writes the chunk
// rows, then the header row that makes the plan count.
func Save(ctx context.Context, c *spanner.Client, job, table, keyColumns string, chunks []chunking.Chunk) error {
	now := time.Now().UTC()
	cols := []string{"JobId", "TableName", "ChunkId", "ChunkOf", "KeyColumns", "LowerKey", "UpperKey", "Status", "PlannedRows", "PlannedAt"}
	clear := spanner.Delete(Table, spanner.KeyRange{Start: spanner.Key{job, table}, End: spanner.Key{job, table}, Kind: spanner.ClosedClosed})
	if err := apply(ctx, c, []*spanner.Mutation{clear}); err != nil {
		return err
	}
	var ms []*spanner.Mutation
	var total int64
	for _, ch := range chunks {
		total += ch.Rows
		ms = append(ms, spanner.Insert(Table, cols, []any{job, table, int64(ch.ID), int64(ch.Of), nil, ch.Lower, ch.Upper, StatusPending, ch.Rows, now}))
		if len(ms) == maxRowsPerCommit {
			if err := apply(ctx, c, ms); err != nil {
				return err
			}
			ms = nil
		}
	}
	ms = append(ms, spanner.Insert(Table, cols, []any{job, table, int64(HeaderID), int64(len(chunks)), keyColumns, nil, nil, StatusPlanned, total, now}))
	return apply(ctx, c, ms)
}

// MarkDone records that chunk ch of job has all its rows committed.
func MarkDone(ctx context.Context, c *spanner.Client, job string, ch chunking.Chunk, rowsRead, rowsWritten int64, started time.Time) error {
	m := spanner.Update(Table, []string{"JobId", "TableName", "ChunkId", "Status", "RowsRead", "RowsWritten", "StartedAt", "DoneAt", "Heartbeat"},
		[]any{job, ch.Table, int64(ch.ID), StatusDone, rowsRead, rowsWritten, started.UTC(), spanner.CommitTimestamp, spanner.CommitTimestamp})
	if err := apply(ctx, c, []*spanner.Mutation{m}); err != nil {
		return fmt.Errorf("record progress of %s: %w", ch, err)
	}
	return nil
}

func apply(ctx context.Context, c *spanner.Client, ms []*spanner.Mutation) error {
	_, err := target.ReadWrite(ctx, c, func(_ context.Context, tx *spanner.ReadWriteTransaction) error {
		return tx.BufferWrite(ms)
	})
	return err
}

// TableProgress is one table's line of `livemigrate status`.
type TableProgress struct {
	Table       string
	Chunks      int64
	Done        int64
	Running     int64 // chunks marked running (in flight when the job runs)
	PlannedRows int64
	// RowsRead counts the rows of done chunks plus the rows copied so far
	// by running ones (from their heartbeats).
	RowsRead    int64
	RowsWritten int64
	PlannedAt   time.Time
	FirstStart  time.Time // zero when no chunk has started
	LastDone    time.Time
}

// Status summarises a job's progress per table, in table order. An
// unknown job gives no rows.
func Status(ctx context.Context, c *spanner.Client, job string) ([]TableProgress, error) {
	var out []TableProgress
	err := target.Do(ctx, "read "+Table, func(ctx context.Context) error {
		var err error
		out, err = status(ctx, c, job)
		return err
	})
	return out, err
}

func status(ctx context.Context, c *spanner.Client, job string) ([]TableProgress, error) {
	it := c.Single().Query(ctx, spanner.Statement{SQL: `SELECT TableName,
	  COUNTIF(ChunkId >= 0), COUNTIF(ChunkId >= 0 AND Status = @done), COUNTIF(ChunkId >= 0 AND Status = @running),
	  COALESCE(SUM(IF(ChunkId >= 0, PlannedRows, 0)), 0),
	  COALESCE(SUM(IF(ChunkId >= 0, RowsRead, 0)), 0), COALESCE(SUM(IF(ChunkId >= 0, RowsWritten, 0)), 0),
	  MIN(PlannedAt), MIN(StartedAt), MAX(DoneAt)
	FROM ` + Table + ` WHERE JobId = @job AND TableName != '' GROUP BY TableName ORDER BY TableName`,
		Params: map[string]any{"job": job, "done": StatusDone, "running": StatusRunning}})
	defer it.Stop()
	var out []TableProgress
	for {
		r, err := it.Next()
		if err == iterator.Done {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var tp TableProgress
		var planned, started, done spanner.NullTime
		if err := r.Columns(&tp.Table, &tp.Chunks, &tp.Done, &tp.Running, &tp.PlannedRows, &tp.RowsRead, &tp.RowsWritten, &planned, &started, &done); err != nil {
			return nil, err
		}
		tp.PlannedAt, tp.FirstStart, tp.LastDone = planned.Time, started.Time, done.Time
		out = append(out, tp)
	}
}

// Span is when a table's chunks of a job ran: from the first one's start
// to the last one's end.
type Span struct{ First, Last time.Time }

// Duration is how long the span lasted.
func (s Span) Duration() time.Duration { return s.Last.Sub(s.First) }

// Spans returns, per table, when the chunks of job done since since ran
// (the report's per-table seconds).
func Spans(ctx context.Context, c *spanner.Client, job string, since time.Time) (map[string]Span, error) {
	out := map[string]Span{}
	err := target.Do(ctx, "read "+Table, func(ctx context.Context) error {
		clear(out)
		return c.Single().Query(ctx, spanner.Statement{SQL: `SELECT TableName, MIN(StartedAt), MAX(DoneAt) FROM ` + Table + `
		WHERE JobId = @job AND TableName != '' AND ChunkId >= 0 AND Status = @done AND DoneAt >= @since GROUP BY TableName`,
			Params: map[string]any{"job": job, "done": StatusDone, "since": since.UTC()}}).Do(func(r *spanner.Row) error {
			var t string
			var a, b spanner.NullTime
			if err := r.Columns(&t, &a, &b); err != nil {
				return err
			}
			if a.Valid && b.Valid && b.Time.After(a.Time) {
				out[t] = Span{First: a.Time, Last: b.Time}
			}
			return nil
		})
	})
	return out, err
}
