package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/spf13/pflag"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/job"
	"github.com/livemigrate/livemigrate/pipelines"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/target"
	"github.com/livemigrate/livemigrate/transforms"
)

// TableReport is one table's line of the end-of-run summary.
type TableReport struct {
	Source       string `json:"source"`
	Target       string `json:"target"`
	RowsRead     int64  `json:"rows_read"`
	RowsWritten  int64  `json:"rows_written"`
	RowsExisting int64  `json:"rows_skipped_existing"`
	RowsDead     int64  `json:"rows_dead_lettered"`
	CellsNulled  int64  `json:"cells_nulled"`
	BytesRead    int64  `json:"bytes_read"`
	Chunks       int64  `json:"chunks_done"`
	SourceRows   int64  `json:"source_rows"`
	TargetRows   int64  `json:"target_rows"`
	CountsEqual  bool   `json:"counts_equal"`
	Reconciled   bool   `json:"reconciled"`

	// Skipped because Spanner holds a version not older (version mode), or
	// the live path deleted the key (tombstone); removed again because the
	// source no longer had the key when re-validated after the commit.
	RowsNewer      int64 `json:"rows_skipped_newer"`
	RowsTombstoned int64 `json:"rows_skipped_tombstoned"`
	RowsRemoved    int64 `json:"rows_removed_revalidation"`
}

// Report is the whole run's summary, also written by --report-json.
type Report struct {
	Spec       string        `json:"spec"`
	JobID      string        `json:"job_id"`
	Runner     string        `json:"runner"`
	Started    time.Time     `json:"started"`
	Seconds    float64       `json:"seconds"`
	Tables     []TableReport `json:"tables"`
	DeadLetter string        `json:"dead_letter,omitempty"`
	// Throttle is the time the source throttle held the job back (summed
	// over workers); nil when the spec has no throttle section.
	Throttle *ThrottleReport `json:"throttle,omitempty"`
}

// ThrottleReport sums the workers' throttle time.
type ThrottleReport struct {
	ThrottledSeconds float64 `json:"throttled_seconds"`
	PausedSeconds    float64 `json:"paused_seconds"`
	WaitedSeconds    float64 `json:"waited_seconds"`
}

func backfillCmd(fs *pflag.FlagSet) func(ctx context.Context) error {
	specPath := fs.String("spec", "", "migration spec (YAML); required")
	reportJSON := fs.String("report-json", "", "also write the summary as JSON to this file")
	deadLetter := fs.String("dead-letter", "", "directory (or gs://bucket/prefix, required on Dataflow) for dead-lettered rows, one JSON-lines file per chunk (default out/dead-letters/JOB_ID)")
	pageRows := fs.Int("page-rows", config.DefaultPageRows, "rows per source page (keyset pagination), overriding the spec's chunking.page_rows")
	batchRows := fs.Int("batch-rows", config.DefaultBatch.Rows, "max rows per Spanner commit")
	batchMutations := fs.Int("batch-mutations", config.DefaultBatch.Mutations, "max mutations per Spanner commit (Spanner's limit is 80000)")
	batchBytes := fs.Int64("batch-bytes", config.DefaultBatch.Bytes, "max bytes per Spanner commit (Spanner's limit is 100 MB)")
	noVerifyCounts := fs.Bool("no-count", false, "skip counting source and target rows after the run")
	jobID := fs.String("job-id", "", "job id in the target's progress table; rerun with the same id to copy only unfinished chunks (default: a new id, printed)")
	chunkRows := fs.Int("chunk-rows", chunking.DefaultTargetRows, "target rows per chunk, overriding the spec's chunking.target_rows")
	chunkBytes := fs.Int64("chunk-bytes", chunking.DefaultMaxBytes, "max estimated bytes per chunk, overriding the spec's chunking.max_bytes")
	return func(ctx context.Context) error {
		if *specPath == "" {
			return job.Input(fmt.Errorf("--spec is required; e.g. --spec testdata/demo/spec.yaml"))
		}
		if err := checkJobID(jobID); err != nil {
			return err
		}
		o := config.Overrides{
			ChunkRows: changedInt(fs, "chunk-rows", chunkRows), ChunkBytes: changedInt64(fs, "chunk-bytes", chunkBytes),
			PageRows: changedInt(fs, "page-rows", pageRows), BatchRows: changedInt(fs, "batch-rows", batchRows),
			BatchMutations: changedInt(fs, "batch-mutations", batchMutations), BatchBytes: changedInt64(fs, "batch-bytes", batchBytes),
		}
		if err := dataflowPreflight(*specPath, *deadLetter, time.Now()); err != nil {
			return err
		}
		j, err := job.Load(ctx, *specPath, job.Options{CheckTarget: true, Overrides: o, ReadFile: readSpecFile})
		if err != nil {
			return err
		}
		defer j.DB.Close()
		if err := j.CheckPII(ctx); err != nil {
			return err
		}
		if err := targetInterleave(ctx, j); err != nil {
			return err
		}
		dl := *deadLetter
		if dl == "" {
			dl = filepath.Join("out", "dead-letters", *jobID)
		}
		cfg := j.Config
		cfg.ID, cfg.DeadLetter = *jobID, dl
		if dryRun() {
			return runDryRun(ctx, pipelines.Backfill(cfg))
		}
		if err := checkpoint.Ensure(ctx, j.Spec.Target.Database); err != nil {
			return err
		}
		if j.Config.Throttle.Enabled() {
			if err := checkpoint.EnsureWorkers(ctx, j.Spec.Target.Database); err != nil {
				return err
			}
		}
		fmt.Fprintf(os.Stderr, "job id %s (rerun with --job-id %s to resume; livemigrate status --job %s --spec %s)\n", *jobID, *jobID, *jobID, *specPath)
		if !strings.Contains(dl, "://") {
			if err := os.MkdirAll(dl, 0o755); err != nil {
				return job.Input(fmt.Errorf("--dead-letter %s: %v", dl, err))
			}
		}
		rep := Report{Spec: *specPath, JobID: *jobID, Runner: runnerName(), Started: time.Now().UTC(), DeadLetter: dl}
		res, err := beamx.RunWithMetrics(ctx, pipelines.Backfill(cfg))
		rep.Seconds = time.Since(rep.Started).Seconds()
		if err != nil {
			return fmt.Errorf("pipeline failed: %s", rootCause(err))
		}
		if executeAsync() {
			submittedAsync(res, *jobID, *specPath)
			return nil
		}
		counters := collectCounters(res)
		if j.Config.Throttle.Enabled() {
			th := throttleCounters(res)
			rep.Throttle = &ThrottleReport{ThrottledSeconds: float64(th[transforms.CThrottledMillis]) / 1000,
				PausedSeconds: float64(th[transforms.CPausedMillis]) / 1000, WaitedSeconds: float64(th[transforms.CWaitedMillis]) / 1000}
		}
		for _, p := range j.Plans() {
			c := counters[p.Source]
			tr := TableReport{Source: p.Source, Target: p.Target,
				RowsRead: c[transforms.CRowsRead], RowsWritten: c[transforms.CRowsWritten], RowsExisting: c[transforms.CRowsSkipped],
				RowsDead: c[transforms.CRowsDeadLettered], CellsNulled: c[transforms.CCellsNulled], BytesRead: c[transforms.CBytesRead],
				Chunks: c[transforms.CChunksDone], SourceRows: -1, TargetRows: -1,
				RowsNewer: c[transforms.CRowsNewer], RowsTombstoned: c[transforms.CRowsTombstoned], RowsRemoved: c[transforms.CRowsRemoved]}
			tr.Reconciled = tr.RowsRead == tr.RowsWritten+tr.RowsExisting+tr.RowsNewer+tr.RowsTombstoned+tr.RowsDead
			if !*noVerifyCounts {
				if tr.SourceRows, err = j.SourceCount(ctx, p.Source); err != nil {
					return err
				}
				if tr.TargetRows, err = target.Count(ctx, j.Spec.Target.Database, p.Target); err != nil {
					return fmt.Errorf("count %s in Spanner: %w", p.Target, err)
				}
				tr.CountsEqual = tr.SourceRows == tr.TargetRows+tr.RowsDead
			}
			rep.Tables = append(rep.Tables, tr)
		}
		printReport(os.Stdout, rep, !*noVerifyCounts)
		if *reportJSON != "" {
			data, _ := json.MarshalIndent(rep, "", "  ")
			if err := os.WriteFile(*reportJSON, append(data, '\n'), 0o644); err != nil {
				return fmt.Errorf("--report-json: %w", err)
			}
		}
		for _, t := range rep.Tables {
			if !t.Reconciled {
				return fmt.Errorf("table %s: counters do not reconcile (read %d ≠ written %d + existing %d + newer %d + tombstoned %d + dead-lettered %d)",
					t.Source, t.RowsRead, t.RowsWritten, t.RowsExisting, t.RowsNewer, t.RowsTombstoned, t.RowsDead)
			}
		}
		return nil
	}
}

// targetInterleave reads which target tables are interleaved in which:
// the pipeline copies parents before children and checks a child row's
// parent before writing it (Spanner refuses an orphan).
func targetInterleave(ctx context.Context, j *job.Job) error {
	c, err := target.Client(ctx, j.Spec.Target.Database)
	if err != nil {
		return err
	}
	existing, err := schema.ReadSpanner(ctx, c)
	if err != nil {
		return err
	}
	j.EditPlans(func(p []schema.TablePlan) error { schema.InterleaveFromTarget(p, existing); return nil })
	return nil
}

func runnerName() string {
	if f := pflagRunner(); f != "" {
		return f
	}
	return "prism"
}

// throttleCounters sums the throttle counters over workers.
func throttleCounters(res beam.PipelineResult) map[string]int64 {
	out := map[string]int64{}
	if res == nil {
		return out
	}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Key.Namespace == transforms.ThrottleNamespace {
			out[c.Key.Name] += c.Result()
		}
	}
	return out
}

// collectCounters sums committed counters per table namespace.
func collectCounters(res beam.PipelineResult) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	if res == nil {
		return out
	}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		ns := c.Key.Namespace
		if !strings.HasPrefix(ns, transforms.CounterNamespace) {
			continue
		}
		t := strings.TrimPrefix(ns, transforms.CounterNamespace)
		if out[t] == nil {
			out[t] = map[string]int64{}
		}
		out[t][c.Key.Name] += c.Result()
	}
	return out
}

func printReport(w *os.File, rep Report, counted bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TABLE\tTARGET\tCHUNKS\tREAD\tWRITTEN\tEXISTING\tNEWER\tTOMBSTONED\tREMOVED\tDEAD-LETTERED\tMB READ\tSOURCE ROWS\tTARGET ROWS\tMATCH\t")
	for _, t := range rep.Tables {
		src, dst, match := "-", "-", "-"
		if counted {
			src, dst = fmt.Sprint(t.SourceRows), fmt.Sprint(t.TargetRows)
			match = "yes"
			if !t.CountsEqual {
				match = "NO"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%s\t%s\t%s\t\n", t.Source, t.Target, t.Chunks, t.RowsRead, t.RowsWritten,
			t.RowsExisting, t.RowsNewer, t.RowsTombstoned, t.RowsRemoved, t.RowsDead, float64(t.BytesRead)/1e6, src, dst, match)
	}
	tw.Flush()
	fmt.Fprintf(w, "backfill finished in %.1fs on %s", rep.Seconds, rep.Runner)
	if rep.DeadLetter != "" {
		fmt.Fprintf(w, "; dead letters: %s", rep.DeadLetter)
	}
	if t := rep.Throttle; t != nil {
		fmt.Fprintf(w, "; source throttle: throttled %.1fs, paused %.1fs, queries waited %.1fs", t.ThrottledSeconds, t.PausedSeconds, t.WaitedSeconds)
	}
	fmt.Fprintln(w)
}

// rootCause digs the DoFn's own error out of a runner's bundle failure,
// which wraps it in the whole execution plan.
func rootCause(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "caused by:"); i >= 0 {
		msg = msg[i+len("caused by:"):]
	}
	if i := strings.Index(msg, "] failed:"); i >= 0 {
		msg = msg[i+len("] failed:"):]
	}
	return strings.TrimSpace(strings.ReplaceAll(msg, "\n", " "))
}

// changedInt returns the flag's value when the operator gave it, else nil
// (the resolver then takes the spec's value or the default).
func changedInt(fs *pflag.FlagSet, name string, v *int) *int {
	if fs.Changed(name) {
		return v
	}
	return nil
}

func changedInt64(fs *pflag.FlagSet, name string, v *int64) *int64 {
	if fs.Changed(name) {
		return v
	}
	return nil
}
