package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"cloud.google.com/go/spanner"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/spf13/pflag"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/job"
	"github.com/livemigrate/livemigrate/livewrite"
	"github.com/livemigrate/livemigrate/pipelines"
	"github.com/livemigrate/livemigrate/spec"
	"github.com/livemigrate/livemigrate/target"
	"github.com/livemigrate/livemigrate/verify"
)

// VerifyReport is a verify run's summary, also written by --report-json.
type VerifyReport struct {
	Run     string    `json:"run"`
	Spec    string    `json:"spec"`
	Runner  string    `json:"runner"`
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	Settle  string    `json:"settle"`
	Rounds  int       `json:"rounds"`
	Since   string    `json:"since,omitempty"`
	Repair  bool      `json:"repair,omitempty"`
	// Status is clean, drift or repaired (every difference repaired);
	// Exit the process exit code (0 clean or repaired, 1 drift).
	Status string        `json:"status"`
	Exit   int           `json:"exit_code"`
	Tables []VerifyTable `json:"tables"`
	Notes  []string      `json:"notes,omitempty"`
}

// VerifyTable is one table of the report.
type VerifyTable struct {
	Target string `json:"target"`
	verify.Summary
}

// exitError carries verify's exit code: 1 drift, 2 any error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode is the process exit code of the error.
func (e *exitError) ExitCode() int { return e.code }

// errDrift is verify's "the target differs" outcome: exit code 1.
var errDrift = errors.New("drift")

func verifyCmd(fs *pflag.FlagSet) func(ctx context.Context) error {
	specPath := fs.String("spec", "", "migration spec (YAML); required")
	jobID := fs.String("job", "", "run id in the target's verify tables; rerun with the same id to verify only what is left (default: a new id, printed)")
	reportJSON := fs.String("report-json", "", "also write the report (every difference: kind, key, columns) as JSON to this file")
	settle := fs.Duration("settle", config.DefaultSettle, "how long a difference settles before it is read again from both sides; longer than the live path's lag")
	rounds := fs.Int("rounds", config.DefaultRounds, "re-check rounds for a key the live path keeps writing; 0 reports first-pass differences unchecked (a quiet source)")
	maxDiffs := fs.Int("max-diffs", config.DefaultMaxDiffs, "differences one chunk keeps, re-checks and lists; more are counted as unconfirmed")
	since := fs.String("since", "", "verify only rows whose version column (tables[].version_column) is at or after this: a duration back from now (36h, 7d), a time or a value; rows only in Spanner are not looked for (tables without a version column are verified in full)")
	repair := fs.Bool("repair", false, "re-copy drifted rows from the source and remove extra rows, each only where no live write touched the key since the source was read; then re-check them")
	history := fs.Bool("history", false, "print the latest runs' per-table results from the target (no verification)")
	historyRuns := fs.Int("history-runs", 14, "with --history: how many runs")
	pageRows := fs.Int("page-rows", config.DefaultPageRows, "rows per source page and per Spanner lookup, overriding the spec's chunking.page_rows")
	chunkRows := fs.Int("chunk-rows", chunking.DefaultTargetRows, "target rows per chunk (a new run's plan), overriding the spec's chunking.target_rows")
	chunkBytes := fs.Int64("chunk-bytes", chunking.DefaultMaxBytes, "max estimated bytes per chunk, overriding the spec's chunking.max_bytes")
	worker := workerFlags(fs, "chunks verified", config.DefaultVerifyGCPercent)
	return func(ctx context.Context) error {
		var err error
		if *history {
			err = verifyHistory(ctx, os.Stdout, *specPath, *historyRuns)
		} else {
			o := config.Overrides{ChunkRows: changedInt(fs, "chunk-rows", chunkRows), ChunkBytes: changedInt64(fs, "chunk-bytes", chunkBytes),
				PageRows: changedInt(fs, "page-rows", pageRows),
				Verify:   &config.Verify{Settle: *settle, Rounds: *rounds, MaxDiffs: *maxDiffs, Since: *since, Repair: *repair}}
			worker(&o)
			err = runVerify(ctx, os.Stdout, *specPath, *jobID, *reportJSON, o)
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errDrift):
			return &exitError{code: 1, err: err}
		}
		return &exitError{code: 2, err: err}
	}
}

// missingEngineTables names the tables verify needs that the target lacks.
func missingEngineTables(ctx context.Context, db string, plans []string) ([]string, error) {
	have, err := target.Tables(ctx, db)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, n := range append(append([]string{checkpoint.Table}, verify.RunsTable, verify.UnitsTable), plans...) {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	return missing, nil
}

func runVerify(ctx context.Context, out io.Writer, specPath, runID, reportJSON string, o config.Overrides) error {
	if specPath == "" {
		return job.Input(fmt.Errorf("--spec is required; e.g. verify --spec spec.yaml"))
	}
	if runID == "" {
		if err := checkJobID(&runID); err != nil {
			return err
		}
		runID = "verify-" + runID
	}
	if !jobIDPattern.MatchString(runID) {
		return job.Input(fmt.Errorf("--job %q: use 1–128 letters, digits, '.', '_' or '-'", runID))
	}
	j, err := job.Load(ctx, specPath, job.Options{CheckTarget: true, Overrides: o})
	if err != nil {
		return err
	}
	defer j.DB.Close()
	cfg := j.Config
	cfg.ID = runID
	recentOnly := map[string]bool{} // tables --since narrows
	var full []string
	for _, p := range cfg.Plans() {
		v, err := verify.SinceValue(&p, cfg.Verify.Since, cfg.Verify.Now, cfg.Source.Location())
		if err != nil {
			return err
		}
		recentOnly[p.Source] = v != nil
		if cfg.Verify.Since != "" && v == nil {
			full = append(full, p.Source)
		}
	}
	db := j.Spec.Target.Database
	var need []string
	for _, p := range j.Plans() {
		need = append(need, p.Target, livewrite.ShadowTable(p.Target))
	}
	missing, err := missingEngineTables(ctx, db, need)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return job.Inputf("the target database lacks %s; create what is missing with `livemigrate plan --spec %s --apply` (verify never changes the schema next to live traffic)",
			strings.Join(missing, ", "), specPath)
	}
	client, err := target.Client(ctx, db)
	if err != nil {
		return err
	}
	// A run id names a verify run: never resume a backfill's job (its
	// chunks are all done, so nothing would be verified).
	isRun, err := verify.RunExists(ctx, client, runID)
	if err != nil {
		return err
	}
	if !isRun {
		prog, err := checkpoint.Status(ctx, client, runID)
		if err != nil {
			return err
		}
		if len(prog) > 0 {
			return job.Inputf("--job %s is a backfill job, not a verify run; leave --job out for a new run (verify prints its id)", runID)
		}
	}
	var names []string
	targets := map[string]string{}
	for _, p := range cfg.Plans() {
		names = append(names, p.Source)
		targets[p.Source] = p.Target
	}
	if beamFlagTrue("dry_run") || beamFlagTrue("execute_async") || beamFlagTrue("async") {
		// The runner only prints (or submits) the job: nothing to record
		// or read back here. The run's results land in the target.
		if _, err := beamx.RunWithMetrics(ctx, pipelines.Verify(cfg)); err != nil {
			return fmt.Errorf("pipeline failed: %s", rootCause(err))
		}
		fmt.Fprintf(os.Stderr, "verify run %s submitted; results: livemigrate verify --history --spec %s\n", runID, specPath)
		return nil
	}
	started := time.Now().UTC()
	if err := verify.StartRun(ctx, client, runID, names, cfg.Verify.Since, started); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "verify run %s (resume with --job %s; progress: livemigrate status --job %s --spec %s)\n", runID, runID, runID, specPath)
	rep := VerifyReport{Run: runID, Spec: specPath, Runner: runnerName(), Started: started, Settle: cfg.Verify.Settle.String(),
		Rounds: cfg.Verify.Rounds, Since: cfg.Verify.Since, Repair: cfg.Verify.Repair}
	fail := func(err error) error {
		sums := make([]verify.Summary, len(names))
		for i, n := range names {
			sums[i] = verify.Summary{Run: runID, Table: n, Status: verify.StatusError, Ended: time.Now().UTC()}
		}
		if ferr := verify.FinishRun(context.WithoutCancel(ctx), client, sums); ferr != nil {
			fmt.Fprintf(os.Stderr, "livemigrate verify: %v\n", ferr)
		}
		return err
	}
	if _, err := beamx.RunWithMetrics(ctx, pipelines.Verify(cfg)); err != nil {
		return fail(fmt.Errorf("pipeline failed: %s (rerun with --job %s to verify only what is left)", rootCause(err), runID))
	}
	units, err := verify.Units(ctx, client, runID)
	if err != nil {
		return fail(err)
	}
	if err := complete(ctx, client, runID, names, units, recentOnly); err != nil {
		return fail(err)
	}
	sums := verify.Summarize(runID, names, units)
	for i := range sums {
		sums[i].Since = cfg.Verify.Since
		sums[i].Started = started
		sums[i].Ended = time.Now().UTC()
	}
	if err := verify.FinishRun(ctx, client, sums); err != nil {
		return err
	}
	rep.Seconds = time.Since(started).Seconds()
	rep.Status = verify.StatusClean
	var drift int64
	for _, s := range sums {
		rep.Tables = append(rep.Tables, VerifyTable{Target: targets[s.Table], Summary: s})
		drift += s.Drift()
		if s.Status == verify.StatusRepaired && rep.Status == verify.StatusClean {
			rep.Status = verify.StatusRepaired
		}
	}
	if drift > 0 {
		rep.Status, rep.Exit = verify.StatusDrift, 1
	}
	if cfg.Verify.Since != "" {
		rep.Notes = append(rep.Notes, "--since: in tables with a version column only source rows with a recent version were compared, and rows only in Spanner were not looked for")
		if len(full) > 0 {
			rep.Notes = append(rep.Notes, "--since: without a version column, verified in full: "+strings.Join(full, ", "))
		}
	}
	printVerify(out, rep)
	if reportJSON != "" {
		data, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(reportJSON, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("--report-json: %w", err)
		}
	}
	if drift > 0 {
		return fmt.Errorf("%w: %d differences (see the report; repair with --repair)", errDrift, drift)
	}
	return nil
}

// complete checks that every unit of the run has a stored result: every
// chunk of the stored plan, and every Spanner range.
func complete(ctx context.Context, client *spanner.Client, runID string, names []string, units []verify.Result, recentOnly map[string]bool) error {
	src := map[string]int{}
	dst := map[string]int{}
	of := map[string]int{}
	for _, u := range units {
		if u.Side == verify.SideSource {
			src[u.Table]++
		} else {
			dst[u.Table]++
			of[u.Table] = u.Of
		}
	}
	for _, n := range names {
		plan, ok, err := checkpoint.Load(ctx, client, runID, n)
		if err != nil {
			return err
		}
		if !ok || src[n] < len(plan.Chunks) {
			return fmt.Errorf("table %s: %d of %d chunks verified; rerun with --job %s", n, src[n], len(plan.Chunks), runID)
		}
		if !recentOnly[n] && (dst[n] == 0 || dst[n] < of[n]) {
			return fmt.Errorf("table %s: %d of %d Spanner key ranges scanned; rerun with --job %s", n, dst[n], max(of[n], 1), runID)
		}
	}
	return nil
}

func verifyHistory(ctx context.Context, out io.Writer, specPath string, runs int) error {
	if specPath == "" {
		return job.Input(fmt.Errorf("--spec is required: its target.database holds the history"))
	}
	if runs < 1 {
		return job.Inputf("--history-runs is %d; it must be a positive number", runs)
	}
	s, err := spec.Load(specPath)
	if err != nil {
		return err
	}
	db := s.Target.Database
	if err := target.Check(ctx, db); err != nil {
		return err
	}
	have, err := target.Tables(ctx, db)
	if err != nil {
		return err
	}
	if !have[verify.RunsTable] {
		return job.Inputf("the target database lacks %s; create it with `livemigrate plan --spec %s --apply`", verify.RunsTable, specPath)
	}
	client, err := target.Client(ctx, db)
	if err != nil {
		return err
	}
	hist, err := verify.History(ctx, client, runs)
	if err != nil {
		return err
	}
	printHistory(out, hist)
	return nil
}

func printVerify(w io.Writer, rep VerifyReport) {
	fmt.Fprintf(w, "verify run %s: %s\n", rep.Run, strings.ToUpper(rep.Status))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TABLE\tTARGET\tSOURCE ROWS\tSPANNER KEYS\tMISSING\tEXTRA\tDIFFERENT\tUNCONFIRMED\tUNSETTLED\tSETTLED\tDEAD-LETTERED\tREPAIRED\tSTATUS\t")
	for _, t := range rep.Tables {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", t.Table, t.Target, t.SourceRows, t.TargetKeys, t.Missing,
			t.Extra, t.Different, t.Unconfirmed, t.Unsettled, t.Settled, t.DeadLettered, t.Repaired, t.Status)
	}
	tw.Flush()
	const shown = 20
	for _, t := range rep.Tables {
		if len(t.Diffs) == 0 {
			continue
		}
		diffs := append([]verify.Difference(nil), t.Diffs...)
		sort.SliceStable(diffs, func(i, j int) bool { return diffs[i].Kind < diffs[j].Kind })
		fmt.Fprintf(w, "\n%s: %d difference%s", t.Table, len(diffs), map[bool]string{true: "s"}[len(diffs) != 1])
		if len(diffs) > shown {
			fmt.Fprintf(w, " (first %d; all in --report-json)", shown)
		}
		fmt.Fprintln(w)
		for i, d := range diffs {
			if i == shown {
				break
			}
			line := fmt.Sprintf("  %-10s %s", d.Kind, d.Key)
			if len(d.Columns) > 0 {
				line += "  columns: " + strings.Join(d.Columns, ", ")
			}
			if d.Repair != "" {
				line += "  repair: " + d.Repair
			}
			if d.Note != "" {
				line += "  (" + d.Note + ")"
			}
			fmt.Fprintln(w, line)
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "\nnote: %s\n", n)
	}
	fmt.Fprintf(w, "\nverify finished in %.1fs on %s (settle %s, %d rounds)\n", rep.Seconds, rep.Runner, rep.Settle, rep.Rounds)
}

func printHistory(w io.Writer, hist []verify.Summary) {
	if len(hist) == 0 {
		fmt.Fprintln(w, "no verify runs yet")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "RUN\tSTARTED (UTC)\tTOOK\tTABLE\tSOURCE ROWS\tSPANNER KEYS\tMISSING\tEXTRA\tDIFFERENT\tUNSETTLED\tREPAIRED\tSTATUS\tHASH\t")
	for _, s := range hist {
		took := "-"
		if !s.Ended.IsZero() {
			took = s.Ended.Sub(s.Started).Round(time.Second).String()
		}
		hash := s.Hash
		if len(hash) > 12 {
			hash = hash[:12]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t\n", s.Run, s.Started.UTC().Format(time.DateTime), took, s.Table,
			s.SourceRows, s.TargetKeys, s.Missing, s.Extra, s.Different, s.Unsettled, s.Repaired, s.Status, hash)
	}
	tw.Flush()
}

// beamFlagTrue reports whether a boolean Beam flag (--dry_run,
// --execute_async, --async) is set.
func beamFlagTrue(name string) bool {
	f := flag.Lookup(name)
	return f != nil && f.Value.String() == "true"
}
