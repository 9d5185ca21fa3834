// Package checkpoint owns a backfill job's progress: one table in the
// target Spanner database, livemigrate_progress, that holds every table's
// chunk plan and which chunks are done.
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
// the data, `livemigrate status` works for a job running anywhere.
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
	StatusDone    = "done"
)

// DDL creates the progress table. Key bounds are chunking.EncodeKey bytes;
// they are never printed.
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
) PRIMARY KEY (JobId, TableName, ChunkId)`

// Ensure creates the progress table when the database lacks it.
func Ensure(ctx context.Context, db string) error {
	tables, err := target.Tables(ctx, db)
	if err != nil {
		return err
	}
	if tables[Table] {
		return nil
	}
	if err := target.ApplyDDL(ctx, db, []string{DDL}); err != nil && !strings.Contains(err.Error(), "Duplicate name") &&
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
			return p, false, fmt.Errorf("read %s: %w", Table, err)
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
	m := spanner.Update(Table, []string{"JobId", "TableName", "ChunkId", "Status", "RowsRead", "RowsWritten", "StartedAt", "DoneAt"},
		[]any{job, ch.Table, int64(ch.ID), StatusDone, rowsRead, rowsWritten, started.UTC(), spanner.CommitTimestamp})
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
	PlannedRows int64
	RowsRead    int64
	RowsWritten int64
	PlannedAt   time.Time
	FirstStart  time.Time // zero when no chunk is done
	LastDone    time.Time
}

// Status summarises a job's progress per table, in table order. An
// unknown job gives no rows.
func Status(ctx context.Context, c *spanner.Client, job string) ([]TableProgress, error) {
	it := c.Single().Query(ctx, spanner.Statement{SQL: `SELECT TableName,
	  COUNTIF(ChunkId >= 0), COUNTIF(ChunkId >= 0 AND Status = @done),
	  COALESCE(SUM(IF(ChunkId >= 0, PlannedRows, 0)), 0),
	  COALESCE(SUM(RowsRead), 0), COALESCE(SUM(RowsWritten), 0),
	  MIN(PlannedAt), MIN(StartedAt), MAX(DoneAt)
	FROM ` + Table + ` WHERE JobId = @job GROUP BY TableName ORDER BY TableName`,
		Params: map[string]any{"job": job, "done": StatusDone}})
	defer it.Stop()
	var out []TableProgress
	for {
		r, err := it.Next()
		if err == iterator.Done {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", Table, err)
		}
		var tp TableProgress
		var planned, started, done spanner.NullTime
		if err := r.Columns(&tp.Table, &tp.Chunks, &tp.Done, &tp.PlannedRows, &tp.RowsRead, &tp.RowsWritten, &planned, &started, &done); err != nil {
			return nil, err
		}
		tp.PlannedAt, tp.FirstStart, tp.LastDone = planned.Time, started.Time, done.Time
		out = append(out, tp)
	}
}
