package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/job"
	"github.com/livemigrate/livemigrate/ratelimit"
	"github.com/livemigrate/livemigrate/spec"
	"github.com/livemigrate/livemigrate/target"
)

// statusCmd prints a job's state and per-table progress from the progress
// table in the target database, so it works for a job running anywhere.
func statusCmd(fs *pflag.FlagSet) func(ctx context.Context) error {
	specPath := fs.String("spec", "", "migration spec (YAML); required: its target.database holds the progress")
	jobID := fs.String("job", "", "job id, as printed by backfill; required (--job-id is an alias)")
	leaseTimeout := fs.Duration("lease-timeout", DefaultLeaseTimeout, "a running job whose heartbeat is older than this is shown as stale (its run died)")
	return func(ctx context.Context) error {
		if *specPath == "" || *jobID == "" {
			return job.Input(fmt.Errorf("--spec and --job are required; e.g. status --job 20250101-120000-ab12 --spec spec.yaml"))
		}
		s, err := spec.LoadWith(*specPath, readSpecFile)
		if err != nil {
			return err
		}
		db := s.Target.Database
		if err := target.Check(ctx, db); err != nil {
			return err
		}
		tables, err := target.Tables(ctx, db)
		if err != nil {
			return err
		}
		if !tables[checkpoint.Table] {
			return job.Input(fmt.Errorf("no backfill has run against %s (no %s table); check --spec", db, checkpoint.Table))
		}
		client, err := target.Client(ctx, db)
		if err != nil {
			return err
		}
		prog, err := checkpoint.Status(ctx, client, *jobID)
		if err != nil {
			return err
		}
		var st checkpoint.JobState
		if missing, err := checkpoint.Upgrade(ctx, db); err == nil && len(missing) == 0 {
			if st, err = checkpoint.ReadJob(ctx, client, *jobID); err != nil {
				return err
			}
		}
		if len(prog) == 0 && !st.Found {
			hint := ""
			if ids, err := checkpoint.Jobs(ctx, client, 5); err == nil && len(ids) > 0 {
				hint = "; recent jobs: " + strings.Join(ids, ", ")
			}
			return job.Input(fmt.Errorf("job %q has no progress in %s; check --job (backfill prints its id)%s", *jobID, db, hint))
		}
		printStatus(os.Stdout, *jobID, *specPath, st, *leaseTimeout, prog, time.Now())
		if tables[checkpoint.WorkersTable] {
			ttl := ratelimit.Config{}.WithDefaults().WorkerTTL()
			if s.Throttle != nil {
				ttl = s.Throttle.WithDefaults().WorkerTTL()
			}
			if th, n, err := throttleStatus(ctx, client, *jobID, ttl); err == nil && n > 0 {
				fmt.Fprintf(os.Stdout, "source throttle: %s\n", throttleLine(th, n))
			}
		}
		return nil
	}
}

// printStatus prints the job line (state, holder, heartbeat; the last
// error of a failed job; the resume command of a stopped one) and one line
// per table.
func printStatus(w io.Writer, jobID, specPath string, st checkpoint.JobState, timeout time.Duration, prog []checkpoint.TableProgress, now time.Time) {
	state := st.Shown(timeout)
	switch {
	case !st.Found:
		// A job run by an earlier version: no job row, derive from chunks.
		state = ""
		fmt.Fprintf(w, "job %s\n", jobID)
	case state == checkpoint.JobRunning || state == checkpoint.JobStopping:
		fmt.Fprintf(w, "job %s: %s — %s, since %s UTC, last heartbeat %s ago\n", jobID, state, st.Holder, st.Since.UTC().Format(time.DateTime), st.Age.Round(time.Second))
	case state == checkpoint.JobStale:
		fmt.Fprintf(w, "job %s: stale — %s sent no heartbeat for %s (longer than --lease-timeout %s): it died without stopping (killed, crashed or lost its machine)\n",
			jobID, st.Holder, st.Age.Round(time.Second), timeout)
	case state == checkpoint.JobFailed:
		fmt.Fprintf(w, "job %s: failed at %s UTC — last error: %s\n", jobID, st.Ended.UTC().Format(time.DateTime), st.LastError)
	case state == checkpoint.JobInterrupted:
		fmt.Fprintf(w, "job %s: interrupted at %s UTC\n", jobID, st.Ended.UTC().Format(time.DateTime))
	default:
		fmt.Fprintf(w, "job %s: %s at %s UTC\n", jobID, state, st.Ended.UTC().Format(time.DateTime))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TABLE\tCHUNKS DONE\tCHUNKS\tRUNNING\tROWS COPIED\tPLANNED ROWS\tDONE %\tSTARTED\tLAST CHUNK\tELAPSED\tROWS/S\tSTATE\t")
	var all checkpoint.TableProgress
	for _, p := range prog {
		printStatusLine(tw, p, p.Table, state, now)
		all.Chunks += p.Chunks
		all.Done += p.Done
		all.Running += p.Running
		all.RowsRead += p.RowsRead
		all.PlannedRows += p.PlannedRows
		if all.PlannedAt.IsZero() || p.PlannedAt.Before(all.PlannedAt) {
			all.PlannedAt = p.PlannedAt
		}
		if !p.FirstStart.IsZero() && (all.FirstStart.IsZero() || p.FirstStart.Before(all.FirstStart)) {
			all.FirstStart = p.FirstStart
		}
		if p.LastDone.After(all.LastDone) {
			all.LastDone = p.LastDone
		}
	}
	if len(prog) > 1 {
		printStatusLine(tw, all, "(all)", state, now)
	}
	tw.Flush()
	switch state {
	case checkpoint.JobInterrupted, checkpoint.JobFailed, checkpoint.JobStale:
		fmt.Fprintf(w, "resume: livemigrate backfill --spec %s --job %s\n", shellQuote(specPath), jobID)
	}
}

// tableState is a table's state within a job in state job ("" for a job
// without a job row).
func tableState(p checkpoint.TableProgress, job string) string {
	done := p.Chunks > 0 && p.Done == p.Chunks
	switch {
	case done:
		return "done"
	case job == "":
		if p.Done == 0 && p.Running == 0 {
			return "planned"
		}
		return "running"
	case job != checkpoint.JobRunning && job != checkpoint.JobStopping:
		return job // interrupted, failed, stale (done with unfinished chunks cannot happen)
	case job == checkpoint.JobStopping:
		return "stopping"
	case p.Chunks == 0:
		return "planning"
	case p.Running == 0 && p.Done == 0:
		return "waiting"
	}
	return "copying"
}

func printStatusLine(w io.Writer, p checkpoint.TableProgress, name, job string, now time.Time) {
	pct := 100.0
	if p.PlannedRows > 0 {
		pct = 100 * float64(p.RowsRead) / float64(p.PlannedRows)
	} else if p.Chunks > 0 {
		pct = 100 * float64(p.Done) / float64(p.Chunks)
	}
	state := tableState(p, job)
	end := now
	if state == "done" {
		end = p.LastDone
	} else if job != "" && job != checkpoint.JobRunning && job != checkpoint.JobStopping && !p.LastDone.IsZero() {
		end = p.LastDone
	}
	begin := p.FirstStart
	if begin.IsZero() {
		begin = p.PlannedAt
	}
	started, last, elapsed, rate := "-", "-", "-", "-"
	if !p.FirstStart.IsZero() {
		started = p.FirstStart.UTC().Format(time.DateTime)
	}
	if !p.LastDone.IsZero() {
		last = p.LastDone.UTC().Format(time.DateTime)
	}
	if !begin.IsZero() && !end.IsZero() {
		d := end.Sub(begin)
		elapsed = d.Round(time.Second).String()
		if d > 0 && p.RowsRead > 0 {
			rate = fmt.Sprintf("%.0f", float64(p.RowsRead)/d.Seconds())
		}
	}
	fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", name, p.Done, p.Chunks, p.Running, p.RowsRead, p.PlannedRows, pct,
		started, last, elapsed, rate, state)
}

var jobIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// checkJobID validates backfill's job id, generating one when none is
// given.
func checkJobID(jobID *string) error {
	if *jobID == "" {
		b := make([]byte, 3)
		rand.Read(b)
		*jobID = time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
	}
	if !jobIDPattern.MatchString(*jobID) {
		return job.Input(fmt.Errorf("--job %q: use 1–128 letters, digits, '.', '_' or '-'", *jobID))
	}
	return nil
}
