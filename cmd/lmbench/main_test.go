package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/source"
)

// TestMain lets the test binary stand in for lmbench's child processes:
// runChildProcess re-executes os.Executable() with LMBENCH_CHILD=1.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestSmoke runs the whole harness on tiny tables against the real stack
// and checks the JSON holds every measurement with positive rates. It
// asserts no timing.
func TestSmoke(t *testing.T) {
	testenv.Load(t) // fails with "run make up" when the stack is missing; loads .stack/env
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := benchMain(testenv.Context(t), []string{"--sizes", "2000,3000", "--out", out, "--cpuprofile", "--repeat", "1", "--pairs", "2"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("lmbench exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.json"))
	if len(files) != 1 {
		t.Fatalf("want one results JSON in %s, got %v", out, files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("results JSON: %v", err)
	}
	if len(rep.Runs) != 2 || rep.Runs[0].Size != 2000 || rep.Runs[1].Size != 3000 {
		t.Fatalf("runs: want sizes 2000 and 3000, got %+v", rep.Runs)
	}
	// (One repetition and two pairs keep the test short; TestOptions
	// checks the defaults.)
	if !rep.Host.FreshEmulator || rep.Repeat != 1 {
		t.Errorf("want a fresh emulator and the 1 repetition asked for, got %v and %d", rep.Host.FreshEmulator, rep.Repeat)
	}
	if !strings.Contains(stderr.String(), "starting a fresh emulator") {
		t.Errorf("no fresh emulator was started:\n%s", stderr.String())
	}
	// Each repetition of a write measurement (sink, e2e, beam) starts on
	// a new emulator: 2 sizes × 3 measurements × 1 repetition.
	if got := strings.Count(stderr.String(), ": fresh emulator in "); got != 6 {
		t.Errorf("%d emulator restarts, want one per write measurement's repetition (6):\n%s", got, stderr.String())
	}
	for _, r := range rep.Runs {
		if len(r.Failures) > 0 {
			t.Errorf("size %d failures: %v", r.Size, r.Failures)
		}
		wantRows := r.Size + r.Size/4
		if r.Rows != wantRows {
			t.Errorf("size %d: %d rows generated, want %d", r.Size, r.Rows, wantRows)
		}
		for _, name := range []string{mScan, mSink, mExtract, mExtractPII, mExtractThrottled, mExtractCPUTarget, mE2E, mVerify, mBeam} {
			m := r.measurement(name)
			if m == nil {
				t.Errorf("size %d: measurement %s missing", r.Size, name)
				continue
			}
			if m.Rows != wantRows || m.RowsPerSec <= 0 || m.SecPerMillion <= 0 {
				t.Errorf("size %d: %s = %+v; want %d rows and positive rates", r.Size, name, m, wantRows)
			}
			// Scan and extract run as 2 back-to-back pairs, the rest once.
			reps := 1
			if name == mScan || name == mExtract {
				reps = 2
			}
			if len(m.Samples) != reps || m.LoadBefore <= 0 || m.LoadAfter <= 0 {
				t.Errorf("size %d: %s has samples %v, load %.2f→%.2f; want %d samples and the load around the run", r.Size, name, m.Samples, m.LoadBefore, m.LoadAfter, reps)
			}
			// livemigrate's workers run with the job's collector setting.
			wantGC := map[string]string{mExtract: "GOGC=200 (job)", mE2E: "GOGC=200 (job)", mVerify: "GOGC=100 (job)", mBeam: "Go's default"}[name]
			if wantGC != "" && !strings.HasPrefix(m.WorkerGC, wantGC) {
				t.Errorf("size %d: %s ran with garbage collector %q, want %q", r.Size, name, m.WorkerGC, wantGC)
			}
			if (name == mExtract || name == mE2E) && (m.ChunkPhaseSeconds <= 0 || m.ChunkPhaseSeconds > m.Seconds) {
				t.Errorf("size %d: %s chunk phase %.3f s of a %.3f s run", r.Size, name, m.ChunkPhaseSeconds, m.Seconds)
			}
			child := name != mScan && name != mSink
			if child && m.PeakRSSMB <= 0 {
				t.Errorf("size %d: %s has no peak RSS", r.Size, name)
			}
			if (name == mExtract || name == mE2E || name == mVerify) && m.Profile == "" {
				t.Errorf("size %d: %s has no CPU profile", r.Size, name)
			} else if m.Profile != "" {
				if st, err := os.Stat(m.Profile); err != nil || st.Size() == 0 {
					t.Errorf("size %d: %s CPU profile %s: %v", r.Size, name, m.Profile, err)
				}
			}
		}
		if r.EmulatorRSSMBBefore <= 0 || r.EmulatorRSSMBAfter <= 0 {
			t.Errorf("size %d: emulator memory not recorded (%.0f, %.0f MB)", r.Size, r.EmulatorRSSMBBefore, r.EmulatorRSSMBAfter)
		}
		if r.Plan == nil || r.Plan.Chunks < 2 || r.Plan.PlanSeconds <= 0 || r.Plan.CountSeconds <= 0 {
			t.Errorf("size %d: planning timing %+v", r.Size, r.Plan)
		}
		if r.ExtractOverScan <= 0 || r.E2EOverSink <= 0 || r.E2EOverBeam <= 0 || r.VerifyOverE2E <= 0 {
			t.Errorf("size %d: ratios missing: %+v", r.Size, r)
		}
		if len(r.ExtractOverScanPairs) != 2 || r.ExtractOverScan != median(r.ExtractOverScanPairs) {
			t.Errorf("size %d: (3)/(1) %.2f from pairs %v, want the median of 2 pairs", r.Size, r.ExtractOverScan, r.ExtractOverScanPairs)
		}
		// (2) runs right before each repetition of (4).
		if len(r.E2EOverSinkPairs) != 1 || r.E2EOverSink != r.E2EOverSinkPairs[0] {
			t.Errorf("size %d: (4)/(2) %.2f from pairs %v, want one pair per repetition", r.Size, r.E2EOverSink, r.E2EOverSinkPairs)
		}
	}
	// Runs this short cannot show the controller holding a CPU target.
	for _, tc := range rep.Targets {
		if strings.HasPrefix(tc.Target, "(3c)") && (tc.NA == "" || tc.Met) {
			t.Errorf("%s at %s: %+v; want it judged not applicable", tc.Target, tc.Size, tc)
		}
	}
	if len(rep.MemoryGrowth) < 3 || len(rep.CostDrift) < 5 || rep.ChunkPhaseDrift[mExtract] == 0 || rep.ChunkPhaseDrift[mE2E] == 0 {
		t.Errorf("cross-size figures missing: memory %v, cost %v, chunk phase %v", rep.MemoryGrowth, rep.CostDrift, rep.ChunkPhaseDrift)
	}
	md := stdout.String()
	for _, want := range []string{"| measurement |", "(3)/(1)", "(4)/(2)", "(4)/(5)", "(7)/(4)", "peak memory growth", "planning over COUNT(*)"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Every MySQL database the run made is gone.
	st, err := loadStack()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := source.Open(context.Background(), st.src(""))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, r := range rep.Runs {
		var n int
		if err := admin.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", r.Database).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if r.Database == "" || n != 0 {
			t.Errorf("size %d: MySQL database %q left behind", r.Size, r.Database)
		}
	}
}

// TestOptions checks flag parsing: sizes, --quick, --only.
func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		sizes   []int64
		only    []string
		wantErr string
	}{
		{args: nil, sizes: []int64{100000, 1000000}, only: allMeasurements},
		{args: []string{"--only", "verify"}, sizes: []int64{100000, 1000000}, only: []string{mVerify, mE2E}},
		{args: []string{"--quick"}, sizes: []int64{20000, 100000}, only: allMeasurements},
		{args: []string{"--sizes", "5000,1000", "--only", "scan,plan"}, sizes: []int64{1000, 5000}, only: []string{mScan, mPlan}},
		{args: []string{"--sizes", "abc"}, wantErr: "--sizes"},
		{args: []string{"--only", "speed"}, wantErr: "unknown measurement"},
		{args: []string{"extra"}, wantErr: "unexpected argument"},
		{args: []string{"--pairs", "0"}, wantErr: "--pairs"},
	} {
		o, err := parseOptions(tc.args, &bytes.Buffer{})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: err = %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if tc.args == nil && (o.Repeat != 2 || o.Pairs != 5 || !o.FreshEmulator) {
			t.Errorf("defaults: repeat %d, pairs %d, fresh emulator %v; want 2, 5 and true", o.Repeat, o.Pairs, o.FreshEmulator)
		}
		if len(o.Sizes) != len(tc.sizes) {
			t.Errorf("%v: sizes %v, want %v", tc.args, o.Sizes, tc.sizes)
		}
		for i := range tc.sizes {
			if i < len(o.Sizes) && o.Sizes[i] != tc.sizes[i] {
				t.Errorf("%v: sizes %v, want %v", tc.args, o.Sizes, tc.sizes)
			}
		}
		if len(o.Only) != len(tc.only) {
			t.Errorf("%v: only %v, want %v", tc.args, o.Only, tc.only)
		}
		for _, m := range tc.only {
			if !o.Only[m] {
				t.Errorf("%v: %s not selected", tc.args, m)
			}
		}
	}
}

// TestCPUTargetJudgedOnlyOnLongRuns: (3c) is judged where the unthrottled
// extraction lasted the controller's first samples, and n/a otherwise.
func TestCPUTargetJudgedOnlyOnLongRuns(t *testing.T) {
	run := func(size int64, seconds, cpu float64) *SizeRun {
		return &SizeRun{Size: size, CPUTarget: 30, Extract: &Measurement{Seconds: seconds, MysqldCPUPercent: 60},
			ExtractCPUTarget: &Measurement{Seconds: 2 * seconds, MysqldCPUPercent: cpu}}
	}
	rep := &Report{Runs: []*SizeRun{run(100000, 0.4, 55), run(1000000, 3, 36), run(2000000, 6, 55)}}
	rep.summarise()
	var got []TargetCheck
	for _, tc := range rep.Targets {
		if strings.HasPrefix(tc.Target, "(3c)") {
			got = append(got, tc)
		}
	}
	if len(got) != 3 {
		t.Fatalf("(3c) checks: %+v", got)
	}
	if got[0].NA == "" || got[0].Met {
		t.Errorf("a 0.4 s run: %+v; want n/a", got[0])
	}
	if got[1].NA != "" || !got[1].Met {
		t.Errorf("a 3 s run at 36 %% against 30 %%: %+v; want met", got[1])
	}
	if got[2].NA != "" || got[2].Met {
		t.Errorf("a 6 s run at 55 %% against 30 %%: %+v; want missed", got[2])
	}
	var md bytes.Buffer
	writeMarkdown(&md, rep)
	if !strings.Contains(md.String(), "n/a: the unthrottled run took 0.40 s") {
		t.Errorf("markdown does not say why (3c) is not judged:\n%s", md.String())
	}
}

// TestCostDriftJudgement: the end to end drift is judged only where the raw
// sink's own is flat; the chunk phase's drift is shown beside the run's.
func TestCostDriftJudgement(t *testing.T) {
	m := func(rows int64, sec, phase float64) *Measurement {
		x := newMeasurement(rows, time.Duration(sec*float64(time.Second)))
		x.setChunkPhase(phase)
		return x
	}
	for _, c := range []struct {
		sinkLarge float64
		wantNA    bool
	}{{10, false}, {15, true}} {
		small := &SizeRun{Size: 100, Sink: m(100, 1, 0), E2E: m(100, 1.2, 1), Extract: m(100, 0.3, 0.2)}
		large := &SizeRun{Size: 1000, Sink: m(1000, c.sinkLarge, 0), E2E: m(1000, 13, 12.5), Extract: m(1000, 2, 1.9)}
		rep := &Report{Runs: []*SizeRun{small, large}}
		rep.summarise()
		got := map[string]TargetCheck{}
		for _, tc := range rep.Targets {
			got[tc.Target] = tc
		}
		e2e := got["cost per row drift, e2e"]
		if (e2e.NA != "") != c.wantNA || (!c.wantNA && !e2e.Met) {
			t.Errorf("sink at %.0f s: e2e drift %+v; want n/a %v", c.sinkLarge, e2e, c.wantNA)
		}
		phase := got["cost per row drift, extract, chunk phase only (start-up, planning, wind-down excluded)"]
		if math.Abs(phase.Value-(-0.05)) > 1e-9 || !phase.Met {
			t.Errorf("extract chunk phase drift %+v; want -0.05, met", phase)
		}
		if x := got["cost per row drift, extract"]; math.Abs(x.Value-(-1.0/3)) > 1e-9 || x.Met {
			t.Errorf("extract drift %+v; want -0.33, missed", x)
		}
	}
}
