package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/job"
	"github.com/livemigrate/livemigrate/spec"
	"github.com/livemigrate/livemigrate/target"
)

// statusCmd prints a job's per-table progress from the progress table in
// the target database, so it works for a job running anywhere.
func statusCmd(fs *pflag.FlagSet) func(ctx context.Context) error {
	specPath := fs.String("spec", "", "migration spec (YAML); required: its target.database holds the progress")
	jobID := fs.String("job", "", "job id, as printed by backfill; required")
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
		if len(prog) == 0 {
			return job.Input(fmt.Errorf("job %q has no progress in %s; check --job (backfill prints its id)", *jobID, db))
		}
		printStatus(os.Stdout, *jobID, prog, time.Now())
		return nil
	}
}

func printStatus(w io.Writer, jobID string, prog []checkpoint.TableProgress, now time.Time) {
	fmt.Fprintf(w, "job %s\n", jobID)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TABLE\tCHUNKS DONE\tCHUNKS\tROWS COPIED\tPLANNED ROWS\tDONE %\tPLANNED AT\tLAST CHUNK\tELAPSED\tROWS/S\tSTATE\t")
	var all checkpoint.TableProgress
	for _, p := range prog {
		printStatusLine(tw, p, p.Table, now)
		all.Chunks += p.Chunks
		all.Done += p.Done
		all.RowsRead += p.RowsRead
		all.PlannedRows += p.PlannedRows
		if all.PlannedAt.IsZero() || p.PlannedAt.Before(all.PlannedAt) {
			all.PlannedAt = p.PlannedAt
		}
		if p.LastDone.After(all.LastDone) {
			all.LastDone = p.LastDone
		}
	}
	if len(prog) > 1 {
		printStatusLine(tw, all, "(all)", now)
	}
	tw.Flush()
}

func printStatusLine(w io.Writer, p checkpoint.TableProgress, name string, now time.Time) {
	pct := 100.0
	if p.PlannedRows > 0 {
		pct = 100 * float64(p.RowsRead) / float64(p.PlannedRows)
	} else if p.Chunks > 0 {
		pct = 100 * float64(p.Done) / float64(p.Chunks)
	}
	state := "running"
	end := now
	switch {
	case p.Done == p.Chunks:
		state, end = "done", p.LastDone
	case p.Done == 0:
		state = "planned"
	}
	last, elapsed, rate := "-", "-", "-"
	if !p.LastDone.IsZero() {
		last = p.LastDone.UTC().Format(time.DateTime)
	}
	if !p.PlannedAt.IsZero() && !end.IsZero() {
		d := end.Sub(p.PlannedAt)
		elapsed = d.Round(time.Second).String()
		if d > 0 && p.RowsRead > 0 {
			rate = fmt.Sprintf("%.0f", float64(p.RowsRead)/d.Seconds())
		}
	}
	fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", name, p.Done, p.Chunks, p.RowsRead, p.PlannedRows, pct,
		p.PlannedAt.UTC().Format(time.DateTime), last, elapsed, rate, state)
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
		return job.Input(fmt.Errorf("--job-id %q: use 1–128 letters, digits, '.', '_' or '-'", *jobID))
	}
	return nil
}
