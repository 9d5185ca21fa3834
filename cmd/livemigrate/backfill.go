package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"cloud.google.com/go/spanner"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/spf13/pflag"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/job"
	"github.com/livemigrate/livemigrate/livewrite"
	"github.com/livemigrate/livemigrate/pipelines"
	"github.com/livemigrate/livemigrate/retry"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/target"
	"github.com/livemigrate/livemigrate/transforms"
)

// TableReport is one table's line of the end-of-run summary.
type TableReport struct {
	Source       string  `json:"source"`
	Target       string  `json:"target"`
	RowsRead     int64   `json:"rows_read"`
	RowsWritten  int64   `json:"rows_written"`
	RowsExisting int64   `json:"rows_skipped_existing"`
	RowsDead     int64   `json:"rows_dead_lettered"`
	CellsNulled  int64   `json:"cells_nulled"`
	BytesRead    int64   `json:"bytes_read"`
	Chunks       int64   `json:"chunks_done"`
	Seconds      float64 `json:"seconds"`
	RowsPerSec   float64 `json:"rows_per_second"`
	SourceRows   int64   `json:"source_rows"`
	TargetRows   int64   `json:"target_rows"`
	CountsEqual  bool    `json:"counts_equal"`
	// LiveWrites says the live path has written to the table (its shadow
	// table holds marks): the counts then move while they are taken, so a
	// difference is indicative only; `livemigrate verify` compares rows.
	LiveWrites bool `json:"live_writes"`
	Reconciled bool `json:"reconciled"`

	// Skipped because Spanner holds a version not older (version mode), or
	// the live path deleted the key (tombstone); removed again because the
	// source no longer had the key when re-validated after the commit.
	RowsNewer      int64 `json:"rows_skipped_newer"`
	RowsTombstoned int64 `json:"rows_skipped_tombstoned"`
	RowsRemoved    int64 `json:"rows_removed_revalidation"`
}

// Report is the whole run's summary, also written by --report-json.
type Report struct {
	Spec    string    `json:"spec"`
	JobID   string    `json:"job_id"`
	Runner  string    `json:"runner"`
	Started time.Time `json:"started"`
	// Seconds is the whole run, the final counts included.
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

// backfillOpts are backfill's flags.
type backfillOpts struct {
	spec, reportJSON, deadLetter, jobID string
	noCount                             bool
	leaseTimeout, progressEvery         time.Duration
	stopTimeout                         time.Duration
	progress                            string
	overrides                           config.Overrides
}

// Defaults of the run's lifecycle.
const (
	DefaultLeaseTimeout  = 2 * time.Minute
	DefaultProgressEvery = 10 * time.Second
	DefaultStopTimeout   = time.Minute
)

func backfillCmd(fs *pflag.FlagSet) func(ctx context.Context) error {
	var o backfillOpts
	fs.StringVar(&o.spec, "spec", "", "migration spec (YAML); required")
	fs.StringVar(&o.jobID, "job", "", "job id in the target's progress table; run again with the same id to resume: only unfinished chunks are copied (default: a new id, printed; --job-id is an alias)")
	fs.StringVar(&o.reportJSON, "report-json", "", "also write the summary as JSON to this file (checked before the run starts)")
	fs.StringVar(&o.deadLetter, "dead-letter", "", "directory (or gs://bucket/prefix, required on Dataflow) for dead-lettered rows, one JSON-lines file per chunk (default out/dead-letters/JOB on prism, STAGING_LOCATION/dead-letters/JOB on Dataflow)")
	chunkRows := fs.Int("chunk-rows", chunking.DefaultTargetRows, "target rows per chunk, overriding the spec's chunking.target_rows")
	chunkBytes := fs.Int64("chunk-bytes", chunking.DefaultMaxBytes, "max estimated bytes per chunk, overriding the spec's chunking.max_bytes")
	pageRows := fs.Int("page-rows", config.DefaultPageRows, "rows per source page (keyset pagination), overriding the spec's chunking.page_rows")
	batchRows := fs.Int("batch-rows", config.DefaultBatch.Rows, "max rows per Spanner commit")
	batchMutations := fs.Int("batch-mutations", config.DefaultBatch.Mutations, "max mutations per Spanner commit (Spanner's limit is 80000)")
	batchBytes := fs.Int64("batch-bytes", config.DefaultBatch.Bytes, "max bytes per Spanner commit (Spanner's limit is 100 MB)")
	worker := workerFlags(fs, "chunks copied", config.DefaultGCPercent)
	srcWindow := fs.Duration("source-retry-window", retry.DefaultWindow, "how long MySQL may be unavailable (refused or lost connections, a restart) before the job stops")
	dstWindow := fs.Duration("target-retry-window", retry.DefaultWindow, "how long Spanner may be unavailable before the job stops")
	fs.DurationVar(&o.leaseTimeout, "lease-timeout", DefaultLeaseTimeout, "a run of the same job whose heartbeat is older than this is presumed dead and taken over")
	fs.DurationVar(&o.progressEvery, "progress-interval", DefaultProgressEvery, "without a terminal: one progress line per table this often")
	fs.StringVar(&o.progress, "progress", "auto", "progress display: auto (live bars on a terminal, log lines otherwise), bars, lines or none")
	fs.DurationVar(&o.stopTimeout, "stop-timeout", DefaultStopTimeout, "after Ctrl-C (SIGINT/SIGTERM): how long in-flight pages may take to commit before the run exits anyway")
	fs.BoolVar(&o.noCount, "no-count", false, "skip counting source and target rows after the run")
	return func(ctx context.Context) error {
		o.overrides = config.Overrides{
			ChunkRows: changedInt(fs, "chunk-rows", chunkRows), ChunkBytes: changedInt64(fs, "chunk-bytes", chunkBytes),
			PageRows: changedInt(fs, "page-rows", pageRows), BatchRows: changedInt(fs, "batch-rows", batchRows),
			BatchMutations: changedInt(fs, "batch-mutations", batchMutations), BatchBytes: changedInt64(fs, "batch-bytes", batchBytes),
			SourceRetryWindow: changedDuration(fs, "source-retry-window", srcWindow), TargetRetryWindow: changedDuration(fs, "target-retry-window", dstWindow),
		}
		worker(&o.overrides)
		stop := newInterrupts()
		defer stop.close()

		// 1. Check everything that can be known before copying. Reads only.
		p, err := preflight(stop.ctx(ctx), o)
		if err != nil {
			if stop.interrupted() {
				return interruptedBefore()
			}
			return err
		}
		defer p.close()
		// 2. A dry run stops here: it prints the job and writes nothing.
		if p.dryRun {
			return dryRun(ctx, p)
		}
		// 3. Create the run's state (the lease: the first write), then run.
		r, err := start(ctx, p)
		if err != nil {
			return err
		}
		return r.execute(ctx, stop)
	}
}

// preflighted is a job that passed every check; nothing was written yet.
type preflighted struct {
	o          backfillOpts
	j          *job.Job
	cfg        config.Job
	runner     string
	dryRun     bool
	deadLetter string
	client     *spanner.Client
}

func (p *preflighted) close() { p.j.DB.Close() }

// runners are the Beam runners a backfill may run on.
var runners = map[string]string{"prism": "prism", "prismrunner": "prism", "dataflow": "dataflow", "dataflowrunner": "dataflow"}

// preflight checks, in order and before any side effect: the flags and
// their numbers, the runner, the report and dead-letter destinations, the
// spec (source, tables, keys, every resolved number), the target's schema
// against the plan (blocking differences), livemigrate's own tables in the
// target, and that no live run holds the job. Any failure is bad input:
// one line, exit 2, nothing changed anywhere.
func preflight(ctx context.Context, o backfillOpts) (*preflighted, error) {
	if o.spec == "" {
		return nil, job.Inputf("--spec is required; e.g. --spec testdata/demo/spec.yaml")
	}
	if err := checkJobID(&o.jobID); err != nil {
		return nil, err
	}
	p := &preflighted{o: o}
	runner, ok := runners[strings.ToLower(runnerName())]
	if !ok {
		return nil, job.Inputf("--runner %q: use prism (local) or dataflow", runnerName())
	}
	p.runner = runner
	p.dryRun = beamFlag("dry_run") == "true"
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--lease-timeout", o.leaseTimeout}, {"--progress-interval", o.progressEvery}, {"--stop-timeout", o.stopTimeout}} {
		if d.v < time.Second {
			return nil, job.Inputf("%s is %s; it must be at least 1s", d.name, d.v)
		}
	}
	switch o.progress {
	case "auto", "bars", "lines", "none":
	default:
		return nil, job.Inputf("--progress %q: use auto, bars, lines or none", o.progress)
	}
	if o.reportJSON != "" {
		if err := checkWritableFile(o.reportJSON); err != nil {
			return nil, job.Inputf("--report-json %s: %v", o.reportJSON, err)
		}
	}
	dl, err := deadLetterDest(o.deadLetter, o.jobID, runner)
	if err != nil {
		return nil, err
	}
	p.deadLetter = dl
	if runner == "dataflow" {
		if err := dataflowPreflight(o.spec, time.Now()); err != nil {
			return nil, err
		}
	}

	j, err := job.Load(ctx, o.spec, job.Options{CheckTarget: true, Overrides: o.overrides, ReadFile: readSpecFile})
	if err != nil {
		return nil, err
	}
	p.j = j
	db := j.Spec.Target.Database
	// Every column that looks personal has a decision, and the keyset
	// loads and fits (one KMS call): fail closed before anything is read.
	if err := j.CheckPII(ctx); err != nil {
		j.DB.Close()
		return nil, err
	}
	if err := targetInterleave(ctx, j); err != nil {
		j.DB.Close()
		return nil, err
	}
	if err := checkTargetSchema(ctx, j, o.spec); err != nil {
		j.DB.Close()
		return nil, err
	}
	if p.client, err = target.Client(ctx, db); err != nil {
		j.DB.Close()
		return nil, err
	}
	st, err := checkpoint.ReadJob(ctx, p.client, o.jobID)
	if err != nil {
		j.DB.Close()
		return nil, fmt.Errorf("read job %s: %w", o.jobID, err)
	}
	if st.Live(o.leaseTimeout) {
		j.DB.Close()
		return nil, &checkpoint.HeldError{Job: o.jobID, State: st, Timeout: o.leaseTimeout}
	}
	p.cfg = j.Config
	p.cfg.ID, p.cfg.DeadLetter = o.jobID, dl
	return p, nil
}

// checkTargetSchema refuses a target whose tables cannot take the plan
// (`plan --delta`'s blocking findings) or that lacks livemigrate's own
// tables (the progress table at this version, the shadow tables), which
// `plan --apply` creates before the application starts dual-writing.
func checkTargetSchema(ctx context.Context, j *job.Job, specPath string) error {
	db := j.Spec.Target.Database
	d, err := targetDelta(ctx, j)
	if err != nil {
		return err
	}
	if d.Blocking > 0 {
		return blockingError(d, specPath)
	}
	missing, err := checkpoint.Upgrade(ctx, db)
	if err != nil {
		return err
	}
	tables, err := target.Tables(ctx, db)
	if err != nil {
		return err
	}
	var names []string
	if len(missing) > 0 {
		names = append(names, checkpoint.Table)
	}
	for _, p := range j.Plans() {
		if s := livewrite.ShadowTable(p.Target); !tables[s] {
			names = append(names, s)
		}
	}
	if j.Config.Throttle.Enabled() && !tables[checkpoint.WorkersTable] {
		names = append(names, checkpoint.WorkersTable)
	}
	if len(names) > 0 {
		verb := "lacks"
		if len(missing) > 0 && tables[checkpoint.Table] {
			verb = "lacks (or has an older version of)"
		}
		return job.Inputf("the target %s livemigrate's own tables %s; create them with `livemigrate plan --spec %s --apply` before the application starts dual-writing",
			verb, strings.Join(names, ", "), specPath)
	}
	return nil
}

// deadLetterDest resolves --dead-letter and checks it can be written,
// without creating anything: on Dataflow it must be a gs:// prefix (a local
// path would land on the workers' throwaway disks).
func deadLetterDest(flagVal, jobID, runner string) (string, error) {
	dl := flagVal
	if runner == "dataflow" {
		if dl == "" {
			base := beamFlag("staging_location")
			if !strings.HasPrefix(base, "gs://") {
				base = beamFlag("temp_location")
			}
			if !strings.HasPrefix(base, "gs://") {
				return "", job.Inputf("--dead-letter is required on Dataflow: give a gs://bucket/prefix (a local path would land on the workers' throwaway disks)")
			}
			dl = strings.TrimSuffix(base, "/") + "/dead-letters/" + jobID
		}
		if !strings.HasPrefix(dl, "gs://") || len(strings.TrimPrefix(dl, "gs://")) == 0 {
			return "", job.Inputf("--dead-letter %s: on Dataflow use a gs://bucket/prefix (a local path would land on the workers' throwaway disks)", dl)
		}
		return dl, nil
	}
	if dl == "" {
		dl = filepath.Join("out", "dead-letters", jobID)
	}
	if strings.Contains(dl, "://") {
		if !strings.HasPrefix(dl, "gs://") {
			return "", job.Inputf("--dead-letter %s: use a local directory or gs://bucket/prefix", dl)
		}
		return dl, nil
	}
	if err := checkWritableDir(dl); err != nil {
		return "", job.Inputf("--dead-letter %s: %v", dl, err)
	}
	return dl, nil
}

// dryRun shows what the run would do and writes nothing anywhere: on
// Dataflow, Beam's --dry_run prints the job instead of submitting it.
func dryRun(ctx context.Context, p *preflighted) error {
	if p.runner == "dataflow" {
		return runDryRun(ctx, pipelines.Backfill(p.cfg))
	}
	slog.Info("dry run: every check passed; nothing was written", "job", p.o.jobID, "tables", len(p.cfg.Tables), "runner", p.runner)
	return nil
}

// running is a started run: it holds the job's lease.
type running struct {
	*preflighted
	holder checkpoint.Holder
	start  time.Time
}

// start takes the job's lease, the run's first write.
func start(ctx context.Context, p *preflighted) (*running, error) {
	r := &running{preflighted: p, start: time.Now()}
	b := make([]byte, 4)
	rand.Read(b)
	host, _ := os.Hostname()
	r.holder = checkpoint.Holder{ID: hex.EncodeToString(b), Host: host, Pid: int64(os.Getpid())}
	r.cfg.Run = r.holder.ID
	ctx = target.WithRetry(ctx, r.cfg.TargetRetry)
	prev, err := checkpoint.Acquire(ctx, r.client, r.o.jobID, r.holder, r.o.leaseTimeout)
	if err != nil {
		return nil, err
	}
	switch shown := prev.Shown(r.o.leaseTimeout); {
	case shown == checkpoint.JobStale:
		slog.Warn("taking over the job: its last run sent no heartbeat for longer than --lease-timeout", "job", r.o.jobID,
			"previous", prev.Holder.String(), "last_heartbeat", prev.Age.Round(time.Second).String()+" ago", "lease_timeout", r.o.leaseTimeout)
	case prev.Found:
		slog.Info("resuming the job: only unfinished chunks are copied", "job", r.o.jobID, "was", shown)
	}
	slog.Info("backfill started", "job", r.o.jobID, "runner", r.runner, "tables", len(r.cfg.Tables),
		"status", fmt.Sprintf("livemigrate status --job %s --spec %s", r.o.jobID, r.o.spec))
	return r, nil
}

// errInterrupted ends an interrupted run: exit 130.
type errInterrupted struct{ msg string }

func (e *errInterrupted) Error() string { return e.msg }
func (e *errInterrupted) ExitCode() int { return 130 }

func interruptedBefore() error {
	return &errInterrupted{"interrupted before the run started; nothing was written"}
}

// execute runs the pipeline with the lease heartbeat, the progress display
// and interrupt handling around it, then reports.
func (r *running) execute(ctx context.Context, stop *interrupts) error {
	ctx = target.WithRetry(ctx, r.cfg.TargetRetry)
	if !strings.Contains(r.deadLetter, "://") {
		if err := os.MkdirAll(r.deadLetter, 0o755); err != nil {
			return r.finish(ctx, checkpoint.JobFailed, fmt.Errorf("--dead-letter %s: %v", r.deadLetter, err))
		}
	}
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	// The helpers' calls end with the run, whatever their retry window.
	bgCtx, cancelBg := context.WithCancel(ctx)
	defer cancelBg()
	var wg sync.WaitGroup
	done := make(chan struct{})
	var lost, stopping atomicFlag

	// The lease heartbeat.
	wg.Add(1)
	go func() {
		defer wg.Done()
		every := min(max(r.o.leaseTimeout/4, 500*time.Millisecond), 15*time.Second)
		for {
			select {
			case <-done:
				return
			case <-time.After(every):
			}
			err := checkpoint.Beat(bgCtx, r.client, r.o.jobID, r.holder.ID)
			if errors.Is(err, checkpoint.ErrLeaseLost) {
				lost.set()
				slog.Warn("another run took this job over (this run's heartbeat was older than its --lease-timeout); stopping", "job", r.o.jobID)
				return
			}
			if err != nil && bgCtx.Err() == nil {
				slog.Warn("lease heartbeat failed", "cause", oneLine(err))
			}
		}
	}()

	// Interrupts: the first asks every chunk to stop between two pages
	// (through the job row, so Dataflow's workers hear it too), and after
	// --stop-timeout cancels the run; a second exits at once (interrupts).
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-done:
			return
		case <-stop.first:
		}
		stopping.set()
		slog.Warn("interrupted: no new pages are read; in-flight commits finish (Ctrl-C again to exit at once)", "stop_timeout", r.o.stopTimeout)
		if err := checkpoint.RequestStop(bgCtx, r.client, r.o.jobID, r.holder.ID); err != nil && bgCtx.Err() == nil {
			slog.Warn("could not mark the job stopping; cancelling the run", "cause", oneLine(err))
			cancelRun()
		}
		select {
		case <-done:
		case <-time.After(r.o.stopTimeout):
			slog.Warn("in-flight work did not finish within --stop-timeout; cancelling the run", "stop_timeout", r.o.stopTimeout)
			cancelRun()
		}
	}()

	// The progress display, from the progress table's heartbeats.
	disp := r.newDisplay()
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.showProgress(bgCtx, disp, stopping.isSet, done)
	}()

	res, err := beamx.RunWithMetrics(runCtx, pipelines.Backfill(r.cfg))
	close(done)
	cancelBg()
	wg.Wait()
	disp.Close()

	if err == nil && executeAsync() {
		// Submitted to Dataflow, which runs it: this process neither
		// waits nor marks the job; status reads its progress.
		submittedAsync(res, r.o.jobID, r.o.spec)
		return nil
	}
	switch {
	case lost.isSet():
		return fmt.Errorf("job %s was taken over by another run; this run stopped", r.o.jobID)
	case stopping.isSet() && (err != nil || !r.complete(ctx)):
		return r.interrupted(ctx)
	case err != nil:
		return r.finish(ctx, checkpoint.JobFailed, fmt.Errorf("backfill failed: %s", rootCause(err)))
	}
	if err := r.finish(ctx, checkpoint.JobDone, nil); err != nil {
		return err
	}
	// A Ctrl-C during the final counts ends them; the copy is done.
	if err := r.report(stop.ctx(ctx), res); err != nil {
		if stop.interrupted() {
			return &errInterrupted{fmt.Sprintf("interrupted during the final counts; the copy is complete (job %s: done)", r.o.jobID)}
		}
		return err
	}
	return nil
}

// complete reports whether every chunk of every table of the job is done
// (an interrupt that came as the last chunks finished).
func (r *running) complete(ctx context.Context) bool {
	prog, err := checkpoint.Status(ctx, r.client, r.o.jobID)
	if err != nil || len(prog) < len(r.cfg.Tables) {
		return false
	}
	for _, p := range prog {
		if p.Chunks == 0 || p.Done != p.Chunks {
			return false
		}
	}
	return true
}

// interrupted marks the job interrupted and prints the command that
// resumes it.
func (r *running) interrupted(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := checkpoint.Finish(fctx, r.client, r.o.jobID, r.holder.ID, checkpoint.JobInterrupted, ""); err != nil {
		slog.Warn("could not mark the job interrupted; status shows it stale once its heartbeat is older than --lease-timeout", "cause", oneLine(err))
	}
	cmd := resumeCommand(invocation, r.o.jobID)
	fmt.Fprintf(os.Stderr, "interrupted: job %s stopped after its in-flight pages; resume it with:\n  %s\n", r.o.jobID, cmd)
	return &errInterrupted{fmt.Sprintf("interrupted; job %s is resumable (the command above)", r.o.jobID)}
}

// finish records how the run ended (status done or failed with its
// error's first line) and returns runErr.
func (r *running) finish(ctx context.Context, status string, runErr error) error {
	// A target that stayed unavailable for the whole window will not take
	// the mark either: do not wait another window for it.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	fctx = target.WithRetry(fctx, retry.Policy{Window: 5 * time.Second})
	last := ""
	if runErr != nil {
		last = lastError(runErr)
	}
	// (The pipeline's error crosses the runner as text.)
	if runErr != nil && strings.Contains(runErr.Error(), target.UnavailableMessage) {
		slog.Debug("not recording the failure in the job row: Spanner is unavailable; status shows the job stale")
		return runErr
	}
	if err := checkpoint.Finish(fctx, r.client, r.o.jobID, r.holder.ID, status, last); err != nil {
		slog.Debug("could not record the run's end in the job row", "status", status, "cause", oneLine(err))
	}
	return runErr
}

// report counts both sides, prints the summary and writes --report-json.
func (r *running) report(ctx context.Context, res beam.PipelineResult) error {
	rep := Report{Spec: r.o.spec, JobID: r.o.jobID, Runner: r.runner, Started: r.start.UTC(), DeadLetter: r.deadLetter}
	counters := collectCounters(res)
	if r.cfg.Throttle.Enabled() {
		th := throttleCounters(res)
		rep.Throttle = &ThrottleReport{ThrottledSeconds: float64(th[transforms.CThrottledMillis]) / 1000,
			PausedSeconds: float64(th[transforms.CPausedMillis]) / 1000, WaitedSeconds: float64(th[transforms.CWaitedMillis]) / 1000}
	}
	spans, err := checkpoint.Spans(ctx, r.client, r.o.jobID, r.start)
	if err != nil {
		slog.Warn("could not read per-table times", "cause", oneLine(err))
	}
	db := r.j.Spec.Target.Database
	counted := !r.o.noCount
	for _, p := range r.j.Plans() {
		c := counters[p.Source]
		tr := TableReport{Source: p.Source, Target: p.Target,
			RowsRead: c[transforms.CRowsRead], RowsWritten: c[transforms.CRowsWritten], RowsExisting: c[transforms.CRowsSkipped],
			RowsDead: c[transforms.CRowsDeadLettered], CellsNulled: c[transforms.CCellsNulled], BytesRead: c[transforms.CBytesRead],
			Chunks: c[transforms.CChunksDone], SourceRows: -1, TargetRows: -1,
			RowsNewer: c[transforms.CRowsNewer], RowsTombstoned: c[transforms.CRowsTombstoned], RowsRemoved: c[transforms.CRowsRemoved]}
		tr.Reconciled = tr.RowsRead == tr.RowsWritten+tr.RowsExisting+tr.RowsNewer+tr.RowsTombstoned+tr.RowsDead
		if s, ok := spans[p.Source]; ok {
			tr.Seconds = s.Duration().Seconds()
			if tr.Seconds > 0 {
				tr.RowsPerSec = float64(tr.RowsRead) / tr.Seconds
			}
		}
		if counted {
			if tr.SourceRows, err = r.sourceCount(ctx, p.Source); err != nil {
				return err
			}
			if tr.TargetRows, err = target.Count(ctx, db, p.Target); err != nil {
				return fmt.Errorf("count %s in Spanner: %w", p.Target, err)
			}
			tr.CountsEqual = tr.SourceRows == tr.TargetRows+tr.RowsDead
			if tr.LiveWrites, err = target.Any(ctx, db, livewrite.ShadowTable(p.Target)); err != nil {
				return fmt.Errorf("read %s: %w", livewrite.ShadowTable(p.Target), err)
			}
		}
		rep.Tables = append(rep.Tables, tr)
	}
	rep.Seconds = time.Since(r.start).Seconds()
	printReport(os.Stdout, rep, counted)
	if r.o.reportJSON != "" {
		data, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(r.o.reportJSON, append(data, '\n'), 0o644); err != nil {
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

// sourceCount counts a source table's rows, riding out an unavailable
// source for the source retry window.
func (r *running) sourceCount(ctx context.Context, table string) (int64, error) {
	var n int64
	err := r.cfg.SourceRetry.Do(ctx, sourceRetryable, func(ev retry.Event) {
		slog.Warn("MySQL unavailable; retrying", "during", "count "+table, "cause", oneLine(ev.Err), "attempt", ev.Attempt,
			"wait", ev.Wait.Round(time.Millisecond), "left", ev.Left.Round(time.Second))
	}, func(ctx context.Context) error {
		var err error
		n, err = r.j.SourceCount(ctx, table)
		return err
	})
	return n, err
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

// liveNote explains the MATCH column when live writes were in flight.
const liveNote = "live: the application writes to this table while it is counted, so the counts are indicative only; run `livemigrate verify` to compare rows"

func printReport(w io.Writer, rep Report, counted bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TABLE\tTARGET\tCHUNKS\tREAD\tWRITTEN\tEXISTING\tNEWER\tTOMBSTONED\tREMOVED\tDEAD-LETTERED\tMB READ\tSECONDS\tROWS/S\tSOURCE ROWS\tTARGET ROWS\tMATCH\t")
	live := false
	for _, t := range rep.Tables {
		src, dst, match := "-", "-", "-"
		if counted {
			src, dst = fmt.Sprint(t.SourceRows), fmt.Sprint(t.TargetRows)
			switch {
			case t.CountsEqual:
				match = "yes"
			case t.LiveWrites:
				match, live = "live*", true
			default:
				match = "NO"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.0f\t%s\t%s\t%s\t\n", t.Source, t.Target, t.Chunks, t.RowsRead, t.RowsWritten,
			t.RowsExisting, t.RowsNewer, t.RowsTombstoned, t.RowsRemoved, t.RowsDead, float64(t.BytesRead)/1e6, t.Seconds, t.RowsPerSec, src, dst, match)
	}
	tw.Flush()
	if live {
		fmt.Fprintf(w, "* %s\n", liveNote)
	}
	fmt.Fprintf(w, "backfill finished in %.1fs on %s (final counts included)", rep.Seconds, rep.Runner)
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
	return strings.TrimSpace(strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", " ")), " "))
}

// interrupts turns SIGINT/SIGTERM into a graceful stop: the first closes
// first; a second exits the process at once (exit 130).
type interrupts struct {
	ch    chan os.Signal
	first chan struct{}
	once  sync.Once
	quit  chan struct{}
}

func newInterrupts() *interrupts {
	in := &interrupts{ch: make(chan os.Signal, 2), first: make(chan struct{}), quit: make(chan struct{})}
	signal.Notify(in.ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		n := 0
		for {
			select {
			case <-in.quit:
				return
			case <-in.ch:
			}
			n++
			if n == 1 {
				close(in.first)
				continue
			}
			fmt.Fprintln(os.Stderr, "interrupted again: exiting now; the job shows as stale once its heartbeat is older than --lease-timeout, and a new run resumes it")
			os.Exit(130)
		}
	}()
	return in
}

// ctx returns a context that ends at the first interrupt (preflight).
func (in *interrupts) ctx(parent context.Context) context.Context {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-in.first:
			cancel()
		case <-in.quit:
		}
	}()
	return ctx
}

func (in *interrupts) interrupted() bool {
	select {
	case <-in.first:
		return true
	default:
		return false
	}
}

func (in *interrupts) close() {
	in.once.Do(func() {
		signal.Stop(in.ch)
		close(in.quit)
	})
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

func changedDuration(fs *pflag.FlagSet, name string, v *time.Duration) *time.Duration {
	if fs.Changed(name) {
		return v
	}
	return nil
}
