package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/target"
)

// Job statuses, kept in the job's row of the progress table. JobStale is
// never stored: it is what a running job whose heartbeat is older than the
// lease timeout is shown as (its run died without a word, e.g. SIGKILL).
const (
	JobRunning     = "running"
	JobStopping    = "stopping" // an interrupt asked the run to stop; chunks stop between pages
	JobInterrupted = "interrupted"
	JobFailed      = "failed"
	JobDone        = "done"
	JobStale       = "stale"
)

// The job row: TableName "" (no source table has an empty name), ChunkId 0.
const (
	jobTable = ""
	jobChunk = 0
)

// Holder identifies one run of a job: who holds its lease.
type Holder struct {
	ID   string // random per run
	Host string
	Pid  int64
}

func (h Holder) String() string {
	return fmt.Sprintf("run %s on %s (pid %d)", h.ID, h.Host, h.Pid)
}

// JobState is what the job row says, with the server's clock.
type JobState struct {
	Found     bool
	Status    string
	Holder    Holder
	Since     time.Time // when the holder took the lease
	Heartbeat time.Time
	// Age is the server's time since the last heartbeat.
	Age       time.Duration
	Ended     time.Time
	LastError string
	Created   time.Time
}

// Live reports whether a run holds the lease: it runs (or is stopping) and
// its heartbeat is younger than timeout.
func (s JobState) Live(timeout time.Duration) bool {
	return s.Found && (s.Status == JobRunning || s.Status == JobStopping) && s.Age < timeout
}

// Shown is the status to display: Status, or JobStale for a run whose
// heartbeat is older than timeout.
func (s JobState) Shown(timeout time.Duration) string {
	if s.Found && (s.Status == JobRunning || s.Status == JobStopping) && s.Age >= timeout {
		return JobStale
	}
	return s.Status
}

// HeldError refuses a second run of a job whose lease a live run holds.
type HeldError struct {
	Job     string
	State   JobState
	Timeout time.Duration
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("job %s is already running: %s holds it since %s UTC (last heartbeat %s ago); stop that run, or once it has sent no heartbeat for %s (--lease-timeout) a new run takes the job over",
		e.Job, e.State.Holder, e.State.Since.UTC().Format(time.DateTime), e.State.Age.Round(time.Second), e.Timeout)
}

// BadInput: the operator started the same job twice (exit 2).
func (e *HeldError) BadInput() bool { return true }

// ErrLeaseLost says another run took the job over (this run's heartbeat
// was older than its lease timeout): this run must stop.
var ErrLeaseLost = errors.New("another run took this job over")

const jobSQL = `SELECT CURRENT_TIMESTAMP(), p.Status, p.Holder, p.Host, p.Pid, p.StartedAt, p.Heartbeat, p.DoneAt, p.LastError, p.PlannedAt
FROM (SELECT 1 AS one) AS o LEFT JOIN ` + Table + ` AS p ON p.JobId = @job AND p.TableName = '' AND p.ChunkId = 0`

type querier interface {
	Query(ctx context.Context, statement spanner.Statement) *spanner.RowIterator
}

func readJob(ctx context.Context, q querier, job string) (JobState, error) {
	it := q.Query(ctx, spanner.Statement{SQL: jobSQL, Params: map[string]any{"job": job}})
	defer it.Stop()
	r, err := it.Next()
	if err != nil {
		return JobState{}, err
	}
	var now time.Time
	var status, holder, host, lastErr spanner.NullString
	var pid spanner.NullInt64
	var since, beat, ended, created spanner.NullTime
	if err := r.Columns(&now, &status, &holder, &host, &pid, &since, &beat, &ended, &lastErr, &created); err != nil {
		return JobState{}, err
	}
	s := JobState{Found: status.Valid, Status: status.StringVal, Holder: Holder{ID: holder.StringVal, Host: host.StringVal, Pid: pid.Int64},
		Since: since.Time, Heartbeat: beat.Time, Ended: ended.Time, LastError: lastErr.StringVal, Created: created.Time}
	if beat.Valid {
		s.Age = now.Sub(beat.Time)
	}
	return s, nil
}

// ReadJob reads a job's state; Found is false for a job without a job
// row (unknown, or run by an earlier version).
func ReadJob(ctx context.Context, c *spanner.Client, job string) (JobState, error) {
	var s JobState
	err := target.Do(ctx, "read "+Table, func(ctx context.Context) error {
		var err error
		s, err = readJob(ctx, c.Single(), job)
		return err
	})
	return s, err
}

var jobCols = []string{"JobId", "TableName", "ChunkId", "ChunkOf", "Status", "PlannedRows", "PlannedAt", "StartedAt", "DoneAt",
	"Holder", "Host", "Pid", "Heartbeat", "LastError"}

// Acquire takes job's lease for h: it creates the job row, or takes over a
// job that no live run holds (interrupted, failed, done, or stale: no
// heartbeat for timeout). prev is the state before, so the caller can say
// what it resumed or took over. A live holder makes it a *HeldError.
func Acquire(ctx context.Context, c *spanner.Client, job string, h Holder, timeout time.Duration) (prev JobState, err error) {
	_, err = target.ReadWrite(ctx, c, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		s, err := readJob(ctx, tx, job)
		if err != nil {
			return err
		}
		prev = s
		if s.Live(timeout) && s.Holder.ID != h.ID {
			return &HeldError{Job: job, State: s, Timeout: timeout}
		}
		now := time.Now().UTC()
		created := now
		if s.Found && !s.Created.IsZero() {
			created = s.Created
		}
		return tx.BufferWrite([]*spanner.Mutation{spanner.InsertOrUpdate(Table, jobCols, []any{job, jobTable, int64(jobChunk), int64(0),
			JobRunning, int64(0), created, now, nil, h.ID, h.Host, h.Pid, spanner.CommitTimestamp, nil})})
	})
	return prev, err
}

// holderStatus reads the job row's status and holder in tx; found is false
// when the job has no job row.
func holderStatus(ctx context.Context, tx *spanner.ReadWriteTransaction, job string) (status, holder string, found bool, err error) {
	r, err := tx.ReadRow(ctx, Table, spanner.Key{job, jobTable, int64(jobChunk)}, []string{"Status", "Holder"})
	if spanner.ErrCode(err) == codes.NotFound {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, err
	}
	var s, hd spanner.NullString
	if err := r.Columns(&s, &hd); err != nil {
		return "", "", false, err
	}
	return s.StringVal, hd.StringVal, true, nil
}

// Beat records the holder's heartbeat. ErrLeaseLost: another run took the
// job over.
func Beat(ctx context.Context, c *spanner.Client, job, holder string) error {
	return updateJob(ctx, c, job, holder, []string{"Heartbeat"}, []any{spanner.CommitTimestamp}, nil)
}

// RequestStop marks a running job stopping: every chunk in flight, on any
// worker, stops between two pages at its next progress heartbeat, and no
// chunk starts any more.
func RequestStop(ctx context.Context, c *spanner.Client, job, holder string) error {
	return updateJob(ctx, c, job, holder, []string{"Status", "Heartbeat"}, []any{JobStopping, spanner.CommitTimestamp},
		func(status string) bool { return status == JobRunning })
}

// Finish ends the holder's run of job with status (interrupted, failed or
// done) and, for a failure, its last error: one line, no values.
func Finish(ctx context.Context, c *spanner.Client, job, holder, status, lastErr string) error {
	var le any
	if lastErr != "" {
		le = lastErr
	}
	return updateJob(ctx, c, job, holder, []string{"Status", "DoneAt", "Heartbeat", "LastError"},
		[]any{status, spanner.CommitTimestamp, spanner.CommitTimestamp, le}, nil)
}

func updateJob(ctx context.Context, c *spanner.Client, job, holder string, cols []string, vals []any, when func(status string) bool) error {
	_, err := target.ReadWrite(ctx, c, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		status, hd, found, err := holderStatus(ctx, tx, job)
		if err != nil {
			return err
		}
		if !found || hd != holder {
			return ErrLeaseLost
		}
		if when != nil && !when(status) {
			return nil
		}
		return tx.BufferWrite([]*spanner.Mutation{spanner.Update(Table, append([]string{"JobId", "TableName", "ChunkId"}, cols...),
			append([]any{job, jobTable, int64(jobChunk)}, vals...))})
	})
	return err
}

// ChunkProgress records that chunk ch of job is being copied by holder's
// run and has read rows rows so far (0 when it starts), and reports whether
// the run must stop: the job is no longer running (an interrupt asked it to
// stop, or it ended) or another run holds it. A job without a job row
// (tests, the benchmark) never stops.
func ChunkProgress(ctx context.Context, c *spanner.Client, job, holder string, ch chunking.Chunk, rows int64, started time.Time) (stop bool, err error) {
	_, err = target.ReadWrite(ctx, c, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		status, hd, found, err := holderStatus(ctx, tx, job)
		if err != nil {
			return err
		}
		stop = found && (status != JobRunning || (holder != "" && hd != holder))
		if stop {
			return nil
		}
		return tx.BufferWrite([]*spanner.Mutation{spanner.Update(Table,
			[]string{"JobId", "TableName", "ChunkId", "Status", "RowsRead", "StartedAt", "Heartbeat"},
			[]any{job, ch.Table, int64(ch.ID), StatusRunning, rows, started.UTC(), spanner.CommitTimestamp})})
	})
	if err != nil {
		return false, fmt.Errorf("record progress of %s: %w", ch, err)
	}
	return stop, nil
}

// Jobs lists the job ids stored in the progress table with a job row
// (newest first), for error messages that help find a job.
func Jobs(ctx context.Context, c *spanner.Client, limit int) ([]string, error) {
	var out []string
	err := target.Do(ctx, "read "+Table, func(ctx context.Context) error {
		out = out[:0]
		it := c.Single().Query(ctx, spanner.Statement{SQL: `SELECT JobId FROM ` + Table +
			` WHERE TableName = '' AND ChunkId = 0 ORDER BY PlannedAt DESC LIMIT @n`, Params: map[string]any{"n": int64(limit)}})
		defer it.Stop()
		for {
			r, err := it.Next()
			if err == iterator.Done {
				return nil
			}
			if err != nil {
				return err
			}
			var id string
			if err := r.Columns(&id); err != nil {
				return err
			}
			out = append(out, id)
		}
	})
	return out, err
}
