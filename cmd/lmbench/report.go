package main

import (
	"fmt"
	"io"
	"math"
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

	ExtractOverScan      float64 `json:"extract_over_scan,omitempty"`      // (3)/(1)
	E2EOverSink          float64 `json:"e2e_over_sink,omitempty"`          // (4)/(2)
	E2EOverBeam          float64 `json:"e2e_over_beam,omitempty"`          // (4)/(5)
	PIIOverExtract       float64 `json:"pii_over_extract,omitempty"`       // (3p)/(3)
	ThrottledOverExtract float64 `json:"throttled_over_extract,omitempty"` // (3t)/(3)
	VerifyOverE2E        float64 `json:"verify_over_e2e,omitempty"`        // (7)/(4)

	Failures []string `json:"failures,omitempty"`
}

// TargetCheck is one target of issue 6, shown, never asserted.
type TargetCheck struct {
	Target string  `json:"target"`
	Size   string  `json:"size"`
	Value  float64 `json:"value"`
	Goal   string  `json:"goal"`
	Met    bool    `json:"met"`
}

func ratio(a, b *Measurement) float64 {
	if a == nil || b == nil || b.RowsPerSec == 0 {
		return 0
	}
	return a.RowsPerSec / b.RowsPerSec
}

func (r *SizeRun) ratios() {
	r.ExtractOverScan = ratio(r.Extract, r.Scan)
	r.E2EOverSink = ratio(r.E2E, r.Sink)
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
			rep.Targets = append(rep.Targets, TargetCheck{"(3)/(1) extraction over raw scan", size, r.ExtractOverScan, "≥ 0.8", r.ExtractOverScan >= 0.8})
		}
		if r.E2EOverSink > 0 {
			rep.Targets = append(rep.Targets, TargetCheck{"(4)/(2) end to end over raw sink", size, r.E2EOverSink, "≥ 0.9", r.E2EOverSink >= 0.9})
		}
		if r.E2EOverBeam > 0 {
			rep.Targets = append(rep.Targets, TargetCheck{"(4)/(5) end to end over Beam baseline", size, r.E2EOverBeam, "≥ 1.0", r.E2EOverBeam >= 1.0})
		}
		if r.VerifyOverE2E > 0 {
			rep.Targets = append(rep.Targets, TargetCheck{"(7)/(4) verify over end to end", size, r.VerifyOverE2E, "≥ 2.0", r.VerifyOverE2E >= 2.0})
		}
		if r.PIIOverExtract > 0 {
			rep.Targets = append(rep.Targets, TargetCheck{"(3p)/(3) extraction with 3 protected columns over plain", size, r.PIIOverExtract, "≥ 0.8", r.PIIOverExtract >= 0.8})
		}
		if r.ThrottledOverExtract > 0 {
			rep.Targets = append(rep.Targets, TargetCheck{"(3t)/(3) throttled extraction on an idle source over unthrottled", size, r.ThrottledOverExtract, "≥ 0.9", r.ThrottledOverExtract >= 0.9})
		}
		if m := r.ExtractCPUTarget; m != nil && r.CPUTarget > 0 && m.MysqldCPUPercent > 0 {
			rep.Targets = append(rep.Targets, TargetCheck{fmt.Sprintf("(3c) mysqld CPU %% with a target of %.0f %% (unthrottled %.0f %%)", r.CPUTarget, r.Extract.MysqldCPUPercent),
				size, m.MysqldCPUPercent, fmt.Sprintf("≤ %.0f", r.CPUTarget+10), m.MysqldCPUPercent <= r.CPUTarget+10})
		}
		if r.Plan != nil && r.Plan.CountSeconds > 0 {
			rep.Targets = append(rep.Targets, TargetCheck{"planning over COUNT(*)", size, r.Plan.Ratio, "≤ 2.0", r.Plan.Ratio <= 2.0})
		}
	}
	if len(rep.Runs) < 2 {
		return
	}
	small, large := rep.Runs[0], rep.Runs[len(rep.Runs)-1]
	span := fmt.Sprintf("%d→%d", small.Size, large.Size)
	rep.MemoryGrowth = map[string]float64{}
	rep.CostDrift = map[string]float64{}
	for _, name := range allMeasurements {
		a, b := small.measurement(name), large.measurement(name)
		if a == nil || b == nil {
			continue
		}
		if a.PeakRSSMB > 0 && b.PeakRSSMB > 0 {
			g := b.PeakRSSMB / a.PeakRSSMB
			rep.MemoryGrowth[name] = g
			if name == mExtract || name == mE2E || name == mVerify {
				rep.Targets = append(rep.Targets, TargetCheck{"peak memory growth, " + name, span, g, "≤ 1.3", g <= 1.3})
			}
		}
		if a.SecPerMillion > 0 {
			d := b.SecPerMillion/a.SecPerMillion - 1
			rep.CostDrift[name] = d
			if name == mExtract || name == mE2E {
				rep.Targets = append(rep.Targets, TargetCheck{"cost per row drift, " + name, span, d, "within ±0.20", math.Abs(d) <= 0.2})
			}
		}
	}
}

// writeMarkdown prints the run as markdown tables.
func writeMarkdown(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "\n### lmbench %s — %d cores, %s, %s/%s, page %d rows, lower median of %d runs each, fresh emulator: %v\n\n",
		rep.Started.Format("2006-01-02 15:04 UTC"), rep.Host.Cores, rep.Host.GoVersion, rep.Host.GOOS, rep.Host.GOARCH, rep.PageRows,
		rep.Repeat, rep.Host.FreshEmulator)
	fmt.Fprintln(w, "| measurement | size | rows | seconds | rows/s | s per 1M rows | peak RSS MB | load before→after |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---|")
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
			fmt.Fprintf(w, "| %s | %d | %d | %.2f | %.0f | %.2f | %s | %.2f→%.2f |\n", measurementTitle[name], r.Size, m.Rows, m.Seconds, m.RowsPerSec,
				m.SecPerMillion, rss, m.LoadBefore, m.LoadAfter)
		}
	}
	for _, r := range rep.Runs {
		if r.Plan != nil {
			fmt.Fprintf(w, "| (6) chunking.Plan (%d chunks) vs SELECT COUNT(*) | %d | %d | %.4f vs %.4f | | | | |\n",
				r.Plan.Chunks, r.Size, r.Rows, r.Plan.PlanSeconds, r.Plan.CountSeconds)
		}
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintln(w, "\n| target | size | value | goal | met |")
		fmt.Fprintln(w, "|---|---:|---:|---|---|")
		for _, t := range rep.Targets {
			met := "yes"
			if !t.Met {
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
