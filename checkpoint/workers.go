package checkpoint

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/api/iterator"

	"github.com/livemigrate/livemigrate/ratelimit"
	"github.com/livemigrate/livemigrate/target"
)

// WorkersTable is the worker registry's table in the target database: one
// row per live (or recently live) worker process of a job, renewed by its
// heartbeat, holding its throttle status as JSON.
const WorkersTable = "livemigrate_workers"

// WorkersDDL creates the worker registry table. Heartbeat is a commit
// timestamp, so liveness is judged on Spanner's clock, never on the
// workers' own.
var WorkersDDL = `CREATE TABLE ` + WorkersTable + ` (
  JobId STRING(128) NOT NULL,
  WorkerId STRING(256) NOT NULL,
  Heartbeat TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
  Status STRING(MAX),
) PRIMARY KEY (JobId, WorkerId)`

// EnsureWorkers creates the worker registry table when the database lacks
// it.
func EnsureWorkers(ctx context.Context, db string) error {
	tables, err := target.Tables(ctx, db)
	if err != nil {
		return err
	}
	if tables[WorkersTable] {
		return nil
	}
	if err := target.ApplyDDL(ctx, db, []string{WorkersDDL}); err != nil && !strings.Contains(err.Error(), "Duplicate name") &&
		!strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("create worker registry table %s: %w", WorkersTable, err)
	}
	return nil
}

// WorkerRegistry is a ratelimit.Registry on the target Spanner database:
// a heartbeat upserts the worker's row (through target.ReadWrite) and then
// reads, strongly, the ids of the job's workers whose heartbeat commit is
// within the ttl of Spanner's current time.
type WorkerRegistry struct {
	Client *spanner.Client
}

// NewWorkerRegistry returns the registry on c's database (the table must
// exist: EnsureWorkers).
func NewWorkerRegistry(c *spanner.Client) *WorkerRegistry { return &WorkerRegistry{Client: c} }

// Heartbeat implements ratelimit.Registry.
func (r *WorkerRegistry) Heartbeat(ctx context.Context, job, worker string, ttl time.Duration, st ratelimit.Status) ([]string, error) {
	js, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	m := spanner.InsertOrUpdate(WorkersTable, []string{"JobId", "WorkerId", "Heartbeat", "Status"},
		[]any{job, worker, spanner.CommitTimestamp, string(js)})
	if _, err := target.ReadWrite(ctx, r.Client, func(_ context.Context, tx *spanner.ReadWriteTransaction) error {
		return tx.BufferWrite([]*spanner.Mutation{m})
	}); err != nil {
		return nil, fmt.Errorf("heartbeat in %s: %w", WorkersTable, err)
	}
	var ids []string
	it := r.Client.Single().Query(ctx, spanner.Statement{
		SQL: `SELECT WorkerId FROM ` + WorkersTable + ` WHERE JobId = @job
		  AND Heartbeat >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @ms MILLISECOND) ORDER BY WorkerId`,
		Params: map[string]any{"job": job, "ms": ttl.Milliseconds()}})
	err = it.Do(func(row *spanner.Row) error {
		var id string
		if err := row.Columns(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", WorkersTable, err)
	}
	return ids, nil
}

// Leave implements ratelimit.Registry.
func (r *WorkerRegistry) Leave(ctx context.Context, job, worker string) error {
	_, err := target.ReadWrite(ctx, r.Client, func(_ context.Context, tx *spanner.ReadWriteTransaction) error {
		return tx.BufferWrite([]*spanner.Mutation{spanner.Delete(WorkersTable, spanner.Key{job, worker})})
	})
	return err
}

// Worker is one worker's row, for `livemigrate status`.
type Worker struct {
	ID        string
	Heartbeat time.Time
	Live      bool // heartbeat within the ttl given to Workers
	Status    ratelimit.Status
}

// Workers lists a job's workers, live ones first, and decodes their
// throttle status. Sum the live ones' statuses with ratelimit.Sum.
func Workers(ctx context.Context, c *spanner.Client, job string, ttl time.Duration) ([]Worker, error) {
	it := c.Single().Query(ctx, spanner.Statement{
		SQL: `SELECT WorkerId, Heartbeat, Status,
		  Heartbeat >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @ms MILLISECOND)
		FROM ` + WorkersTable + ` WHERE JobId = @job`,
		Params: map[string]any{"job": job, "ms": ttl.Milliseconds()}})
	defer it.Stop()
	var out []Worker
	for {
		row, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", WorkersTable, err)
		}
		var w Worker
		var st spanner.NullString
		if err := row.Columns(&w.ID, &w.Heartbeat, &st, &w.Live); err != nil {
			return nil, err
		}
		if st.Valid {
			if err := json.Unmarshal([]byte(st.StringVal), &w.Status); err != nil {
				return nil, fmt.Errorf("worker %s: status is not JSON: %w", w.ID, err)
			}
		}
		out = append(out, w)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Live != out[j].Live {
			return out[i].Live
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}
