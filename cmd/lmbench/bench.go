package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/api/iterator"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/livewrite"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/verify"
)

// Measurement names, as --only takes them.
const (
	mScan    = "scan"    // (1) raw source scan
	mSink    = "sink"    // (2) raw Spanner sink
	mExtract = "extract" // (3) livemigrate extraction only
	mE2E     = "e2e"     // (4) livemigrate end to end
	mBeam    = "beam"    // (5) databaseio → spannerio
	mPlan    = "plan"    // (6b) chunking.Plan vs COUNT(*)
	mVerify  = "verify"  // (7) livemigrate verify of (4)'s target
	// Extraction variants: the cost of protection and of throttling.
	mExtractPII       = "extract-pii"       // (3p) extraction with 3 columns protected
	mExtractThrottled = "extract-throttled" // (3t) extraction through an idle-source throttle
	mExtractCPUTarget = "extract-cpu-target"
)

var allMeasurements = []string{mScan, mSink, mExtract, mExtractPII, mExtractThrottled, mExtractCPUTarget, mE2E, mVerify, mBeam, mPlan}

// options are lmbench's flags.
type options struct {
	Sizes      []int64
	Only       map[string]bool
	Out        string
	CPUProfile bool
	PageRows   int
	// Lanes is the pipelines' --lanes (0: livemigrate's default).
	Lanes int
	// GCPercent is livemigrate's --gc-percent (0: its default).
	GCPercent int
	// Repeat runs every measurement this many times; the report keeps the
	// lower median.
	Repeat int
	// Pairs is how many back-to-back (1)+(3) pairs run when both are
	// selected; (3)/(1) is the median of the pairs' ratios.
	Pairs int
	// FreshEmulator starts a private emulator for the run (a long-lived
	// emulator slows read-write transactions by an order of magnitude).
	FreshEmulator bool
}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("lmbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizes := fs.String("sizes", "100000,1000000", "comma-separated row counts of the main table (the composite-key table gets a quarter as many)")
	quick := fs.Bool("quick", false, "fast smoke run: --sizes 20000,100000")
	only := fs.String("only", strings.Join(allMeasurements, ","), "measurements to run: "+strings.Join(allMeasurements, ","))
	out := fs.String("out", "bench/results", "directory for <timestamp>.json (and CPU profiles)")
	cpu := fs.Bool("cpuprofile", false, "write a CPU profile (go tool pprof) of each livemigrate child run next to the JSON")
	pageRows := fs.Int("page-rows", 2000, "livemigrate source page size (rows)")
	lanes := fs.Int("lanes", 0, "livemigrate's --lanes (chunks side by side on Prism; 0: its default, the machine's cores)")
	gcPercent := fs.Int("gc-percent", 0, "livemigrate's --gc-percent for its workers (0: its defaults, 200 and 100 for verify)")
	repeat := fs.Int("repeat", 2, "run each measurement this many times and report the (lower) median")
	pairs := fs.Int("pairs", 5, "with scan and extract: run them as this many back-to-back pairs; (3)/(1) is the median of the pairs' ratios")
	fresh := fs.Bool("fresh-emulator", true, "start a fresh Spanner emulator for the run on other ports (and stop it after)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o := &options{Only: map[string]bool{}, Out: *out, CPUProfile: *cpu, PageRows: *pageRows, Lanes: *lanes, GCPercent: *gcPercent, Repeat: *repeat, Pairs: *pairs, FreshEmulator: *fresh}
	if o.Repeat < 1 || o.Pairs < 1 {
		return nil, fmt.Errorf("--repeat and --pairs must be at least 1")
	}
	spec := *sizes
	if *quick {
		spec = "20000,100000"
	}
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || n < 4 {
			return nil, fmt.Errorf("--sizes: %q is not a row count (≥ 4); e.g. --sizes 100000,1000000", f)
		}
		o.Sizes = append(o.Sizes, n)
	}
	sort.Slice(o.Sizes, func(i, j int) bool { return o.Sizes[i] < o.Sizes[j] })
	for _, m := range strings.Split(*only, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		known := false
		for _, a := range allMeasurements {
			known = known || a == m
		}
		if !known {
			return nil, fmt.Errorf("--only: unknown measurement %q; use some of %s", m, strings.Join(allMeasurements, ","))
		}
		o.Only[m] = true
	}
	if o.PageRows <= 0 {
		return nil, fmt.Errorf("--page-rows must be positive")
	}
	if o.Lanes < 0 || o.Lanes > config.MaxLanes {
		return nil, fmt.Errorf("--lanes must be between 0 (the default) and %d", config.MaxLanes)
	}
	// verify measures the target the end-to-end run leaves behind.
	if o.Only[mVerify] {
		o.Only[mE2E] = true
	}
	return o, nil
}

func benchMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "lmbench: %v\n", err)
		return 2
	}
	st, err := loadStack()
	if err != nil {
		fmt.Fprintf(stderr, "lmbench: %v\n", err)
		return 2
	}
	if o.FreshEmulator {
		stop, err := st.freshEmulator(ctx, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "lmbench: fresh emulator: %v\n", err)
			return 1
		}
		defer stop()
	}
	rep, path, err := runBench(ctx, st, o, stderr)
	if rep != nil {
		writeMarkdown(stdout, rep)
	}
	if err != nil {
		fmt.Fprintf(stderr, "lmbench: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "\nresults: %s\n", path)
	if len(rep.Errors()) > 0 {
		return 1
	}
	return 0
}

// runBench runs every selected measurement at every size and writes the
// JSON report.
func runBench(ctx context.Context, st *stack, o *options, logw io.Writer) (*Report, string, error) {
	started := time.Now().UTC()
	host, _ := os.Hostname()
	rep := &Report{Started: started, Host: Host{Cores: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		GoVersion: runtime.Version(), Hostname: host, FreshEmulator: o.FreshEmulator}, PageRows: o.PageRows, Repeat: o.Repeat}
	for _, m := range allMeasurements {
		if o.Only[m] {
			rep.Measurements = append(rep.Measurements, m)
		}
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, "", err
	}
	stamp := started.Format("20060102T150405Z")
	tag := strconv.FormatInt(started.Unix()%(36*36*36*36*36), 36)
	for _, n := range o.Sizes {
		if ctx.Err() != nil {
			break
		}
		run := runSize(ctx, st, o, n, tag, filepath.Join(o.Out, stamp), logw)
		rep.Runs = append(rep.Runs, run)
	}
	rep.Finished = time.Now().UTC()
	rep.summarise()
	path := filepath.Join(o.Out, stamp+".json")
	data, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return rep, "", err
	}
	return rep, path, ctx.Err()
}

func logf(w io.Writer, format string, a ...any) {
	fmt.Fprintf(w, "lmbench %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

// runSize runs the measurements on one freshly generated dataset.
func runSize(ctx context.Context, st *stack, o *options, n int64, tag, prefix string, logw io.Writer) *SizeRun {
	run := &SizeRun{Size: n, Database: fmt.Sprintf("lmbench_%s_%d", tag, n)}
	fail := func(m string, err error) {
		run.Failures = append(run.Failures, fmt.Sprintf("%s: %v", m, err))
		logf(logw, "size %d: %s FAILED: %v", n, m, err)
	}
	logf(logw, "size %d: generating tables", n)
	d, err := st.generate(ctx, run.Database, n, o)
	if d != nil {
		defer st.dropMySQL(context.WithoutCancel(ctx), d)
	}
	if err != nil {
		fail("generate", err)
		return run
	}
	run.Rows, run.GenerateSeconds = d.Rows, d.GenSec
	run.Tables = map[string]int64{}
	for _, t := range d.Tables {
		run.Tables[t.Name] = t.Rows
	}
	logf(logw, "size %d: %d rows generated in %.1fs", n, d.Rows, d.GenSec)
	attempt := 0
	spID := func(m string) string { return fmt.Sprintf("lb%s_%s_%d_%d", tag, m, n, attempt) }
	run.EmulatorRSSMBBefore = st.emulatorRSSMB()
	defer func() { run.EmulatorRSSMBAfter = st.emulatorRSSMB() }()
	// repeated runs f n times and keeps the lower median, with the load
	// average around each run.
	repeated := func(name string, reps int, f func() (*Measurement, error)) (*Measurement, error) {
		var ms []*Measurement
		for attempt = 0; attempt < reps; attempt++ {
			before := loadAvg()
			if busy := cpuBusy(500 * time.Millisecond); busy > 0.25 {
				logf(logw, "size %d: %s: warning: %.0f %% of the machine's %d cores busy with other work before the run (load average %.2f): figures are unreliable",
					n, name, busy*100, runtime.NumCPU(), before)
			}
			m, err := f()
			if err != nil {
				return nil, err
			}
			m.LoadBefore, m.LoadAfter = before, loadAvg()
			ms = append(ms, m)
		}
		return lowerMedian(ms), nil
	}

	if o.Only[mPlan] {
		if run.Plan, err = measurePlan(ctx, d); err != nil {
			fail(mPlan, err)
		} else {
			logf(logw, "size %d: plan %.4fs (%d chunks) vs COUNT(*) %.4fs", n, run.Plan.PlanSeconds, run.Plan.Chunks, run.Plan.CountSeconds)
		}
	}
	// Back-to-back pairs: when a ratio's two measurements are both asked
	// for — (3)/(1) and (4)/(2) — the baseline runs right before each
	// repetition of the measurement over it, and the ratio is the median
	// of the pairs' ratios. The machine (and the emulator) move from
	// minute to minute, and a ratio of runs minutes apart said more about
	// that than about livemigrate.
	type partner struct {
		base  string
		dst   **Measurement
		pairs *[]float64
		run   func() (*Measurement, error)
	}
	partners := map[string]partner{
		mExtract: {mScan, &run.Scan, &run.ExtractOverScanPairs, func() (*Measurement, error) { return measureScan(ctx, d) }},
		mE2E: {mSink, &run.Sink, &run.E2EOverSinkPairs, func() (*Measurement, error) {
			if err := st.freshTarget(logw, fmt.Sprintf("size %d: %s", n, mSink)); err != nil {
				return nil, err
			}
			return measureSink(ctx, st, d, spID("sink"))
		}},
	}
	paired := func(m string) bool { p, ok := partners[m]; return ok && o.Only[m] && o.Only[p.base] }
	if o.Only[mScan] && !paired(mExtract) {
		if run.Scan, err = repeated(mScan, o.Repeat, func() (*Measurement, error) { return measureScan(ctx, d) }); err != nil {
			fail(mScan, err)
		} else {
			logf(logw, "size %d: raw scan %.0f rows/s", n, run.Scan.RowsPerSec)
		}
	}
	if o.Only[mSink] && !paired(mE2E) {
		logf(logw, "size %d: raw sink ...", n)
		if run.Sink, err = repeated(mSink, o.Repeat, partners[mE2E].run); err != nil {
			fail(mSink, err)
		} else {
			logf(logw, "size %d: raw sink %.0f rows/s", n, run.Sink.RowsPerSec)
		}
	}
	children := []struct {
		name, kind string
		dst        **Measurement
		ddl        func() []string
		profile    bool
		job        func(config.Job) (config.Job, error) // the variant's job; nil: the dataset's
	}{
		{mExtract, kindExtract, &run.Extract, nil, o.CPUProfile, nil},
		{mExtractPII, kindExtract, &run.ExtractPII, nil, o.CPUProfile, func(j config.Job) (config.Job, error) { return piiJob(ctx, j, os.TempDir()) }},
		{mExtractThrottled, kindExtract, &run.ExtractThrottled, nil, false, func(j config.Job) (config.Job, error) {
			return throttledJob(j, mysqldPIDFile(), 0), nil
		}},
		{mExtractCPUTarget, kindExtract, &run.ExtractCPUTarget, nil, false, func(j config.Job) (config.Job, error) {
			if run.Extract == nil {
				return j, fmt.Errorf("needs the extract measurement's mysqld CPU (run it too)")
			}
			run.CPUTarget = math.Max(10, math.Round(run.Extract.MysqldCPUPercent/2))
			return throttledJob(j, mysqldPIDFile(), run.CPUTarget), nil
		}},
		{mE2E, kindE2E, &run.E2E, func() []string {
			return append(append(append(dataDDL(d.Plans), livewrite.DDL(d.Plans, nil)...), checkpoint.DDL), verify.DDL...)
		}, o.CPUProfile, nil},
		{mBeam, kindBeam, &run.Beam, func() []string { return dataDDL(d.Plans) }, false, nil},
	}
	for _, c := range children {
		if !o.Only[c.name] || ctx.Err() != nil {
			continue
		}
		logf(logw, "size %d: %s ...", n, c.name)
		cfg := childConfig{Kind: c.kind, Job: d.Job}
		if c.job != nil {
			if cfg.Job, err = c.job(d.Job); err != nil {
				fail(c.name, err)
				continue
			}
		}
		if c.profile {
			cfg.CPUProfile, _ = filepath.Abs(fmt.Sprintf("%s-%s-%d.cpu.pprof", prefix, c.name, n))
		}
		var verifies, bases []*Measurement
		pp, isPaired := partners[c.name], paired(c.name)
		reps := o.Repeat
		if isPaired && c.name == mExtract {
			reps = o.Pairs
		}
		m, err := repeated(c.name, reps, func() (*Measurement, error) {
			if isPaired {
				before := loadAvg()
				b, err := pp.run()
				if err != nil {
					return nil, fmt.Errorf("%s: %w", pp.base, err)
				}
				b.LoadBefore, b.LoadAfter = before, loadAvg()
				bases = append(bases, b)
			}
			if c.ddl != nil {
				if err := st.freshTarget(logw, fmt.Sprintf("size %d: %s", n, c.name)); err != nil {
					return nil, err
				}
				id := spID(c.name)
				if err := st.createSpannerDB(ctx, id, c.ddl()); err != nil {
					return nil, err
				}
				defer st.dropSpannerDB(id)
				cfg.Job.Database = st.spannerDB(id)
			}
			m, err := withMysqldCPU(func() (*Measurement, error) { return runChildProcess(ctx, cfg) })
			if err != nil {
				return nil, err
			}
			if c.kind == kindBeam {
				// databaseio/spannerio count nothing: the target count
				// below checks that every row landed.
				b := withRSS(newMeasurement(d.Rows, time.Duration(m.Seconds*float64(time.Second))), m.PeakRSSMB)
				b.WorkerGC = m.WorkerGC
				*m = *b
			}
			if c.kind == kindE2E {
				sec, err := chunkPhase(ctx, cfg.Job.Database, e2eJobID)
				if err != nil {
					return nil, fmt.Errorf("chunk phase: %w", err)
				}
				m.setChunkPhase(sec)
			}
			if c.ddl != nil {
				got, err := countSpanner(ctx, cfg.Job.Database, d.Plans)
				if err != nil {
					return nil, fmt.Errorf("count target rows: %w", err)
				}
				if got != d.Rows {
					return nil, fmt.Errorf("target holds %d rows, source %d", got, d.Rows)
				}
			}
			if m.Rows != d.Rows {
				return nil, fmt.Errorf("read %d rows, source holds %d", m.Rows, d.Rows)
			}
			if c.profile {
				m.Profile = cfg.CPUProfile
			}
			if c.kind == kindE2E && o.Only[mVerify] {
				// (7) verifies the target this repetition just filled.
				before := loadAvg()
				if v := measureVerify(ctx, cfg, d, n, prefix, o.CPUProfile, func(err error) { fail(mVerify, err) }, logw); v != nil {
					v.LoadBefore, v.LoadAfter = before, loadAvg()
					verifies = append(verifies, v)
				}
			}
			return m, nil
		})
		if len(verifies) > 0 {
			run.Verify = lowerMedian(verifies)
			verifies = nil
		}
		if len(bases) > 0 {
			*pp.dst = lowerMedian(bases)
			logf(logw, "size %d: %s %.0f rows/s", n, pp.base, (*pp.dst).RowsPerSec)
		}
		if err != nil {
			fail(c.name, err)
			continue
		}
		*c.dst = m
		logf(logw, "size %d: %s %.0f rows/s, peak RSS %.0f MB", n, c.name, m.RowsPerSec, m.PeakRSSMB)
		if isPaired && len(bases) == len(m.Samples) {
			for i, b := range bases {
				*pp.pairs = append(*pp.pairs, m.Samples[i]/b.RowsPerSec)
			}
			logf(logw, "size %d: %s/%s pairs %s", n, c.name, pp.base, fmtRatios(*pp.pairs))
		}
	}
	run.ratios()
	return run
}

// measureVerify is (7): the verify pipeline over the target the
// end-to-end run just filled (same Spanner database), which must be clean.
func measureVerify(ctx context.Context, e2e childConfig, d *dataset, n int64, prefix string, profile bool, fail func(error), logw io.Writer) *Measurement {
	cfg := childConfig{Kind: kindVerify, Job: d.VerifyJob}
	cfg.Job.Database = e2e.Job.Database
	if profile {
		cfg.CPUProfile, _ = filepath.Abs(fmt.Sprintf("%s-%s-%d.cpu.pprof", prefix, mVerify, n))
	}
	logf(logw, "size %d: %s ...", n, mVerify)
	m, err := runChildProcess(ctx, cfg)
	switch {
	case err != nil:
	case m.Drift != 0:
		err = fmt.Errorf("verify found %d differences on the backfilled target", m.Drift)
	case m.Rows != d.Rows:
		err = fmt.Errorf("verified %d rows, source holds %d", m.Rows, d.Rows)
	}
	if err != nil {
		fail(err)
		return nil
	}
	if profile {
		m.Profile = cfg.CPUProfile
	}
	logf(logw, "size %d: %s %.0f rows/s, peak RSS %.0f MB", n, mVerify, m.RowsPerSec, m.PeakRSSMB)
	return m
}

// runChildProcess re-executes this binary to run one Beam measurement and
// reads its peak RSS from the kernel's rusage.
func runChildProcess(ctx context.Context, cfg childConfig) (*Measurement, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "lmbench-child")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cfgPath, resPath := filepath.Join(dir, "config.json"), filepath.Join(dir, "result.json")
	if cfg.Kind == kindE2E {
		cfg.Job.DeadLetter = filepath.Join(dir, "dead-letters")
	}
	data, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "-config", cfgPath, "-result", resPath)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	runErr := cmd.Run()
	if runErr != nil {
		return nil, fmt.Errorf("child %s: %v: %s", cfg.Kind, runErr, tail(stderr.String(), 1500))
	}
	var res childResult
	data, err = os.ReadFile(resPath)
	if err == nil {
		err = json.Unmarshal(data, &res)
	}
	if err != nil {
		return nil, fmt.Errorf("child %s result: %v", cfg.Kind, err)
	}
	m := newMeasurement(res.Rows, time.Duration(res.Seconds*float64(time.Second)))
	m.Chunks, m.Drift, m.WorkerGC = res.Chunks, res.Drift, res.GC
	m.setChunkPhase(res.ChunkPhaseSeconds)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.PeakRSSMB = float64(ru.Maxrss) / 1024 // Linux reports KiB
		m.ClientCPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	return m, nil
}

func withRSS(m *Measurement, rss float64) *Measurement {
	m.PeakRSSMB = rss
	return m
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// chunkPhase reads from the progress table (checkpoint.Spans) how long
// job's chunks took, from the first one's start to the last one's end.
func chunkPhase(ctx context.Context, db, job string) (float64, error) {
	c, err := spanner.NewClientWithConfig(ctx, db, spanner.ClientConfig{DisableNativeMetrics: true})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	spans, err := checkpoint.Spans(ctx, c, job, time.Time{})
	if err != nil {
		return 0, err
	}
	var all checkpoint.Span
	for _, s := range spans {
		if all.First.IsZero() || s.First.Before(all.First) {
			all.First = s.First
		}
		if s.Last.After(all.Last) {
			all.Last = s.Last
		}
	}
	return all.Duration().Seconds(), nil
}

func countSpanner(ctx context.Context, db string, plans []schema.TablePlan) (int64, error) {
	c, err := spanner.NewClientWithConfig(ctx, db, spanner.ClientConfig{DisableNativeMetrics: true})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var total int64
	for i := range plans {
		it := c.Single().Query(ctx, spanner.Statement{SQL: "SELECT COUNT(*) FROM " + schema.QuoteSpanner(plans[i].Target)})
		r, err := it.Next()
		if err == iterator.Done {
			it.Stop()
			continue
		}
		if err != nil {
			it.Stop()
			return 0, err
		}
		var n int64
		err = r.Columns(&n)
		it.Stop()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}
