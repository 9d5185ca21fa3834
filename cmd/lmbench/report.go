package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// Report is one lmbench run, written as bench/results/<timestamp>.json.
type Report struct {
	Started      time.Time     `json:"started"`
	Finished     time.Time     `json:"finished"`
	Host         Host          `json:"host"`
	PageRows     int           `json:"page_rows"`
	Repeat       int           `json:"repeat"`
	Measurements []string      `json:"measurements"`
	Runs         []*SizeRun    `json:"runs"`
	Targets      []TargetCheck `json:"targets"`
	// MemoryGrowth is peak RSS at the largest size over the smallest, per
	// child measurement.
	MemoryGrowth map[string]float64 `json:"memory_growth,omitempty"`
	// CostDrift is seconds-per-million-rows at the largest size over the
	// smallest, minus one, per measurement (0.1 = 10 % dearer per row).
	CostDrift map[string]float64 `json:"cost_per_row_drift,omitempty"`
	// ChunkPhaseDrift is the same for the runs' chunk phases.
	ChunkPhaseDrift map[string]float64 `json:"chunk_phase_cost_per_row_drift,omitempty"`
}

// Host describes the machine.
type Host struct {
	Cores     int    `json:"cores"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	GoVersion string `json:"go_version"`
	Hostname  string `json:"hostname"`
	// FreshEmulator: the run started its own emulator.
	FreshEmulator bool `json:"fresh_emulator"`
}

// SizeRun is every measurement at one size. Size is the main table's row
// count; Rows counts every generated row (main + composite-key table),
// which is what the rates are computed on.
type SizeRun struct {
	Size            int64            `json:"size"`
	Database        string           `json:"mysql_database"`
	Rows            int64            `json:"rows"`
	Tables          map[string]int64 `json:"tables"`
	GenerateSeconds float64          `json:"generate_seconds"`
	// EmulatorRSSMB* is the emulator's resident memory around the size's
	// measurements (a long-lived emulator grows and slows down).
	EmulatorRSSMBBefore float64 `json:"emulator_rss_mb_before,omitempty"`
	EmulatorRSSMBAfter  float64 `json:"emulator_rss_mb_after,omitempty"`

	Scan    *Measurement `json:"raw_source_scan,omitempty"`     // (1)
	Sink    *Measurement `json:"raw_sink,omitempty"`            // (2)
	Extract *Measurement `json:"livemigrate_extract,omitempty"` // (3)
	E2E     *Measurement `json:"livemigrate_e2e,omitempty"`     // (4)
	Beam    *Measurement `json:"beam_baseline,omitempty"`       // (5)
	Verify  *Measurement `json:"livemigrate_verify,omitempty"`  // (7)
	Plan    *PlanTiming  `json:"planning,omitempty"`            // (6b)

	ExtractPII       *Measurement `json:"livemigrate_extract_pii,omitempty"`        // (3p)
	ExtractThrottled *Measurement `json:"livemigrate_extract_throttled,omitempty"`  // (3t)
	ExtractCPUTarget *Measurement `json:"livemigrate_extract_cpu_target,omitempty"` // (3c)
	// CPUTarget is the mysqld CPU target of (3c), % of one core: half of
	// what mysqld used during (3).
	CPUTarget float64 `json:"cpu_target_percent,omitempty"`

	ExtractOverScan float64 `json:"extract_over_scan,omitempty"` // (3)/(1)
	// ExtractOverScanPairs are the ratios of back-to-back (1)+(3) pairs;
	// ExtractOverScan is their median when there are any.
	ExtractOverScanPairs []float64 `json:"extract_over_scan_pairs,omitempty"`
	E2EOverSink          float64   `json:"e2e_over_sink,omitempty"` // (4)/(2)
	// E2EOverSinkPairs are the ratios of back-to-back (2)+(4) pairs;
	// E2EOverSink is their median when there are any.
	E2EOverSinkPairs     []float64 `json:"e2e_over_sink_pairs,omitempty"`
	E2EOverBeam          float64   `json:"e2e_over_beam,omitempty"`          // (4)/(5)
	PIIOverExtract       float64   `json:"pii_over_extract,omitempty"`       // (3p)/(3)
	ThrottledOverExtract float64   `json:"throttled_over_extract,omitempty"` // (3t)/(3)
	VerifyOverE2E        float64   `json:"verify_over_e2e,omitempty"`        // (7)/(4)

	Failures []string `json:"failures,omitempty"`
}

// TargetCheck is one target of issue 6, shown, never asserted.
type TargetCheck struct {
	Target string  `json:"target"`
	Size   string  `json:"size"`
	Value  float64 `json:"value"`
	Goal   string  `json:"goal"`
	Met    bool    `json:"met"`
	// NA says why the target cannot be judged at this size (Met is then
	// false and means nothing).
	NA string `json:"not_applicable,omitempty"`
}

func newCheck(target, size string, value float64, goal string, met bool) TargetCheck {
	return TargetCheck{Target: target, Size: size, Value: value, Goal: goal, Met: met}
}

// median is the median of xs (the mean of the middle two for an even
// count).
func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// fmtRatios lists ratios as "0.81 0.85 0.88".
func fmtRatios(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, " ")
}

func ratio(a, b *Measurement) float64 {
	if a == nil || b == nil || b.RowsPerSec == 0 {
		return 0
	}
	return a.RowsPerSec / b.RowsPerSec
}

func (r *SizeRun) ratios() {
	r.ExtractOverScan = ratio(r.Extract, r.Scan)
	if len(r.ExtractOverScanPairs) > 0 {
		r.ExtractOverScan = median(r.ExtractOverScanPairs)
	}
	r.E2EOverSink = ratio(r.E2E, r.Sink)
	if len(r.E2EOverSinkPairs) > 0 {
		r.E2EOverSink = median(r.E2EOverSinkPairs)
	}
	r.E2EOverBeam = ratio(r.E2E, r.Beam)
	r.VerifyOverE2E = ratio(r.Verify, r.E2E)
	r.PIIOverExtract = ratio(r.ExtractPII, r.Extract)
	r.ThrottledOverExtract = ratio(r.ExtractThrottled, r.Extract)
}

// Errors lists every failed measurement.
func (rep *Report) Errors() []string {
	var out []string
	for _, r := range rep.Runs {
		for _, f := range r.Failures {
			out = append(out, fmt.Sprintf("size %d: %s", r.Size, f))
		}
	}
	return out
}

func (r *SizeRun) measurement(name string) *Measurement {
	switch name {
	case mScan:
		return r.Scan
	case mSink:
		return r.Sink
	case mExtract:
		return r.Extract
	case mE2E:
		return r.E2E
	case mBeam:
		return r.Beam
	case mVerify:
		return r.Verify
	case mExtractPII:
		return r.ExtractPII
	case mExtractThrottled:
		return r.ExtractThrottled
	case mExtractCPUTarget:
		return r.ExtractCPUTarget
	}
	return nil
}

var measurementTitle = map[string]string{
	mScan:             "(1) raw source scan (go-sql-driver, one SELECT)",
	mSink:             "(2) raw sink (spanner client.Apply, 1000 rows/commit)",
	mExtract:          "(3) livemigrate extraction only (Prism)",
	mE2E:              "(4) livemigrate end to end, dedup on (Prism)",
	mBeam:             "(5) Beam databaseio.Read → spannerio.Write (Prism)",
	mExtractPII:       "(3p) extraction, 3 columns protected (AES-SIV + 2 × AES-GCM)",
	mExtractThrottled: "(3t) extraction through the throttle (Threads_running + mysqld CPU probes, idle source)",
	mExtractCPUTarget: "(3c) extraction with a mysqld CPU target",
	mVerify:           "(7) livemigrate verify of (4)'s target (Prism)",
}

// summarise computes the cross-size figures and the target checks.
func (rep *Report) summarise() {
	rep.Targets = nil
	for _, r := range rep.Runs {
		size := fmt.Sprint(r.Size)
		if r.ExtractOverScan > 0 {
			tc := TargetCheck{Target: "(3)/(1) extraction over raw scan", Size: size, Value: r.ExtractOverScan, Goal: "≥ 0.8", Met: r.ExtractOverScan >= 0.8}
			if len(r.ExtractOverScanPairs) > 0 {
				tc.Target = fmt.Sprintf("(3)/(1) extraction over raw scan, median of %d back-to-back pairs (%s)", len(r.ExtractOverScanPairs), fmtRatios(r.ExtractOverScanPairs))
			}
			rep.Targets = append(rep.Targets, tc)
		}
		if r.E2EOverSink > 0 {
			tc := newCheck("(4)/(2) end to end over raw sink", size, r.E2EOverSink, "≥ 0.9", r.E2EOverSink >= 0.9)
			if len(r.E2EOverSinkPairs) > 0 {
				tc.Target = fmt.Sprintf("(4)/(2) end to end over raw sink, median of %d back-to-back pairs (%s)", len(r.E2EOverSinkPairs), fmtRatios(r.E2EOverSinkPairs))
			}
			rep.Targets = append(rep.Targets, tc)
		}
		if r.E2EOverBeam > 0 {
			rep.Targets = append(rep.Targets, newCheck("(4)/(5) end to end over Beam baseline", size, r.E2EOverBeam, "≥ 1.0", r.E2EOverBeam >= 1.0))
		}
		if r.VerifyOverE2E > 0 {
			rep.Targets = append(rep.Targets, newCheck("(7)/(4) verify over end to end", size, r.VerifyOverE2E, "≥ 2.0", r.VerifyOverE2E >= 2.0))
		}
		if r.PIIOverExtract > 0 {
			rep.Targets = append(rep.Targets, newCheck("(3p)/(3) extraction with 3 protected columns over plain", size, r.PIIOverExtract, "≥ 0.8", r.PIIOverExtract >= 0.8))
		}
		if r.ThrottledOverExtract > 0 {
			rep.Targets = append(rep.Targets, newCheck("(3t)/(3) throttled extraction on an idle source over unthrottled", size, r.ThrottledOverExtract, "≥ 0.9", r.ThrottledOverExtract >= 0.9))
		}
		if m := r.ExtractCPUTarget; m != nil && r.CPUTarget > 0 && m.MysqldCPUPercent > 0 {
			tc := TargetCheck{Target: fmt.Sprintf("(3c) mysqld CPU %% with a target of %.0f %% (unthrottled %.0f %%)", r.CPUTarget, r.Extract.MysqldCPUPercent),
				Size: size, Value: m.MysqldCPUPercent, Goal: fmt.Sprintf("≤ %.0f", r.CPUTarget+10), Met: m.MysqldCPUPercent <= r.CPUTarget+10}
			if least := cpuTargetSamples * cpuTargetSample; r.Extract.Seconds < least.Seconds() {
				tc.Met, tc.NA = false, fmt.Sprintf("the unthrottled run took %.2f s, less than the controller's first %d samples (%s)", r.Extract.Seconds, cpuTargetSamples, least)
			}
			rep.Targets = append(rep.Targets, tc)
		}
		if r.Plan != nil && r.Plan.CountSeconds > 0 {
			rep.Targets = append(rep.Targets, newCheck("planning over COUNT(*)", size, r.Plan.Ratio, "≤ 2.0", r.Plan.Ratio <= 2.0))
		}
	}
	if len(rep.Runs) < 2 {
		return
	}
	small, large := rep.Runs[0], rep.Runs[len(rep.Runs)-1]
	span := fmt.Sprintf("%d→%d", small.Size, large.Size)
	rep.MemoryGrowth = map[string]float64{}
	rep.CostDrift = map[string]float64{}
	rep.ChunkPhaseDrift = map[string]float64{}
	for _, name := range allMeasurements {
		a, b := small.measurement(name), large.measurement(name)
		if a == nil || b == nil {
			continue
		}
		if a.PeakRSSMB > 0 && b.PeakRSSMB > 0 {
			g := b.PeakRSSMB / a.PeakRSSMB
			rep.MemoryGrowth[name] = g
			if name == mExtract || name == mE2E || name == mVerify {
				rep.Targets = append(rep.Targets, newCheck("peak memory growth, "+name, span, g, "≤ 1.3", g <= 1.3))
			}
		}
		if a.SecPerMillion > 0 {
			rep.CostDrift[name] = b.SecPerMillion/a.SecPerMillion - 1
		}
		if a.ChunkPhaseSecPerMillion > 0 && b.ChunkPhaseSecPerMillion > 0 {
			rep.ChunkPhaseDrift[name] = b.ChunkPhaseSecPerMillion/a.ChunkPhaseSecPerMillion - 1
		}
	}
	// Cost per row: the whole run, and its chunk phase alone (a pipeline's
	// start-up, planning and wind-down are a fixed cost, a large share of
	// a small run). End to end is judged where the raw sink, the same
	// emulator's cost, is itself flat.
	sink, sinkOK := rep.CostDrift[mSink]
	for _, name := range []string{mExtract, mE2E} {
		if d, ok := rep.CostDrift[name]; ok {
			tc := newCheck("cost per row drift, "+name, span, d, "within ±0.20", math.Abs(d) <= 0.2)
			if name == mE2E && sinkOK && math.Abs(sink) > 0.2 {
				tc.Met, tc.NA = false, fmt.Sprintf("the raw sink's own cost per row drifts %+.0f %% on this emulator", sink*100)
			}
			rep.Targets = append(rep.Targets, tc)
		}
		if d, ok := rep.ChunkPhaseDrift[name]; ok {
			rep.Targets = append(rep.Targets, newCheck("cost per row drift, "+name+", chunk phase only (start-up, planning, wind-down excluded)", span, d, "within ±0.20", math.Abs(d) <= 0.2))
		}
	}
}

// writeMarkdown prints the run as markdown tables.
func writeMarkdown(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "\n### lmbench %s — %d cores, %s, %s/%s, page %d rows, lower median of %d runs each, fresh emulator: %v\n\n",
		rep.Started.Format("2006-01-02 15:04 UTC"), rep.Host.Cores, rep.Host.GoVersion, rep.Host.GOOS, rep.Host.GOARCH, rep.PageRows,
		rep.Repeat, rep.Host.FreshEmulator)
	if len(rep.Runs) > 0 {
		r := rep.Runs[len(rep.Runs)-1]
		for _, name := range allMeasurements {
			if m := r.measurement(name); m != nil && m.WorkerGC != "" {
				fmt.Fprintf(w, "- garbage collector of %s: %s\n", measurementTitle[name], m.WorkerGC)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "| measurement | size | rows | seconds | rows/s | s per 1M rows | chunk phase s | peak RSS MB | load before→after |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, name := range allMeasurements {
		for _, r := range rep.Runs {
			m := r.measurement(name)
			if m == nil {
				continue
			}
			rss := "—"
			if m.PeakRSSMB > 0 {
				rss = fmt.Sprintf("%.0f", m.PeakRSSMB)
			}
			phase := "—"
			if m.ChunkPhaseSeconds > 0 {
				phase = fmt.Sprintf("%.2f", m.ChunkPhaseSeconds)
			}
			fmt.Fprintf(w, "| %s | %d | %d | %.2f | %.0f | %.2f | %s | %s | %.2f→%.2f |\n", measurementTitle[name], r.Size, m.Rows, m.Seconds, m.RowsPerSec,
				m.SecPerMillion, phase, rss, m.LoadBefore, m.LoadAfter)
		}
	}
	for _, r := range rep.Runs {
		if r.Plan != nil {
			fmt.Fprintf(w, "| (6) chunking.Plan (%d chunks) vs SELECT COUNT(*) | %d | %d | %.4f vs %.4f | | | | | |\n",
				r.Plan.Chunks, r.Size, r.Rows, r.Plan.PlanSeconds, r.Plan.CountSeconds)
		}
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintln(w, "\n| target | size | value | goal | met |")
		fmt.Fprintln(w, "|---|---:|---:|---|---|")
		for _, t := range rep.Targets {
			met := "yes"
			switch {
			case t.NA != "":
				met = "n/a: " + t.NA
			case !t.Met:
				met = "**no**"
			}
			fmt.Fprintf(w, "| %s | %s | %.2f | %s | %s |\n", t.Target, t.Size, t.Value, t.Goal, met)
		}
	}
	if len(rep.MemoryGrowth) > 0 || len(rep.CostDrift) > 0 {
		fmt.Fprintln(w, "\n| measurement | peak RSS largest/smallest | s per 1M rows drift |")
		fmt.Fprintln(w, "|---|---:|---:|")
		for _, name := range allMeasurements {
			g, okG := rep.MemoryGrowth[name]
			d, okD := rep.CostDrift[name]
			if !okG && !okD {
				continue
			}
			gs, ds := "—", "—"
			if okG {
				gs = fmt.Sprintf("%.2f", g)
			}
			if okD {
				ds = fmt.Sprintf("%+.0f %%", d*100)
			}
			fmt.Fprintf(w, "| %s | %s | %s |\n", measurementTitle[name], gs, ds)
		}
	}
	for _, e := range rep.Errors() {
		fmt.Fprintf(w, "\nFAILED %s\n", e)
	}
}
