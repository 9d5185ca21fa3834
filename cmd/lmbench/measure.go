package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/copier"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/source"
)

// Measurement is one timed measurement at one size.
type Measurement struct {
	Rows       int64   `json:"rows"`
	Seconds    float64 `json:"seconds"`
	RowsPerSec float64 `json:"rows_per_sec"`
	// SecPerMillion is the cost per row, as seconds per million rows.
	SecPerMillion float64 `json:"sec_per_million_rows"`
	// PeakRSSMB is the child process's peak resident set (livemigrate and
	// Beam runs only, which run in a child process each).
	PeakRSSMB float64 `json:"peak_rss_mb,omitempty"`
	Chunks    int64   `json:"chunks,omitempty"`
	Note      string  `json:"note,omitempty"`
	Profile   string  `json:"cpu_profile,omitempty"`
	// LoadBefore and LoadAfter are the 1-minute load average around the
	// run; Samples the rows/s of every repetition (the kept one is the
	// lower median).
	// ClientCPUSeconds is the child process's CPU time, its start-up
	// included (child measurements only).
	ClientCPUSeconds float64 `json:"client_cpu_seconds,omitempty"`
	// MysqldCPUPercent is mysqld's average CPU over the run, % of one core
	// (child measurements only).
	MysqldCPUPercent float64   `json:"mysqld_cpu_percent,omitempty"`
	LoadBefore       float64   `json:"load_before"`
	LoadAfter        float64   `json:"load_after"`
	Samples          []float64 `json:"samples_rows_per_sec,omitempty"`
	// Drift is what a verify measurement found (must be 0).
	Drift int64 `json:"drift,omitempty"`
	// WorkerGC is the child's garbage-collector setting (gctune).
	WorkerGC string `json:"worker_gc,omitempty"`
	// ChunkPhaseSeconds is the run from its first chunk's start to its
	// last chunk's end: Seconds less the pipeline's start-up, planning and
	// wind-down (extraction and end to end only); ChunkPhaseSecPerMillion
	// is its cost per row.
	ChunkPhaseSeconds       float64 `json:"chunk_phase_seconds,omitempty"`
	ChunkPhaseSecPerMillion float64 `json:"chunk_phase_sec_per_million_rows,omitempty"`
}

// setChunkPhase records the chunk phase of m.
func (m *Measurement) setChunkPhase(sec float64) {
	if sec <= 0 || m.Rows <= 0 {
		return
	}
	m.ChunkPhaseSeconds, m.ChunkPhaseSecPerMillion = sec, sec/float64(m.Rows)*1e6
}

func newMeasurement(rows int64, d time.Duration) *Measurement {
	s := d.Seconds()
	m := &Measurement{Rows: rows, Seconds: s}
	if s > 0 {
		m.RowsPerSec = float64(rows) / s
	}
	if rows > 0 {
		m.SecPerMillion = s / float64(rows) * 1e6
	}
	return m
}

func selectList(p *schema.TablePlan) string {
	sel := make([]string, len(p.Cols))
	for i, c := range p.Cols {
		sel[i] = c.Mapping.Select
	}
	return strings.Join(sel, ", ")
}

// measureScan is (1): one streaming SELECT per table through go-sql-driver,
// the same columns livemigrate selects, scanned into RawBytes (no copies,
// no conversion): the fastest the source can hand rows to a Go client.
func measureScan(ctx context.Context, d *dataset) (*Measurement, error) {
	var rows int64
	start := time.Now()
	for i := range d.Plans {
		p := &d.Plans[i]
		r, err := d.Pool.QueryContext(ctx, "SELECT "+selectList(p)+" FROM "+schema.QuoteIdent(p.Source))
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", p.Source, err)
		}
		raw := make([]sql.RawBytes, len(p.Cols))
		dest := make([]any, len(raw))
		for j := range raw {
			dest[j] = &raw[j]
		}
		for r.Next() {
			if err := r.Scan(dest...); err != nil {
				r.Close()
				return nil, err
			}
			rows++
		}
		if err := r.Err(); err != nil {
			return nil, err
		}
		r.Close()
	}
	return newMeasurement(rows, time.Since(start)), nil
}

// measureSink is (2): the plain Spanner client inserting the same rows
// (converted by livemigrate's converter, so the values are identical) with
// client.Apply, 1000 rows per commit, into fresh tables. Only the time spent
// building mutations and committing is counted: the rows are read from
// MySQL between commits, untimed.
func measureSink(ctx context.Context, st *stack, d *dataset, dbID string) (*Measurement, error) {
	if err := st.createSpannerDB(ctx, dbID, dataDDL(d.Plans)); err != nil {
		return nil, err
	}
	defer st.dropSpannerDB(dbID)
	client, err := spanner.NewClientWithConfig(ctx, st.spannerDB(dbID),
		spanner.ClientConfig{SessionPoolConfig: spanner.DefaultSessionPoolConfig, DisableNativeMetrics: true})
	if err != nil {
		return nil, err
	}
	defer client.Close()
	const batch = 1000
	var rows int64
	var spent time.Duration
	for i := range d.Plans {
		p := &d.Plans[i]
		cols := p.TargetColumns()
		muts := make([]*spanner.Mutation, 0, batch)
		var pending [][]any
		flush := func() error {
			if len(pending) == 0 {
				return nil
			}
			t0 := time.Now()
			muts = muts[:0]
			for _, v := range pending {
				muts = append(muts, spanner.Insert(p.Target, cols, v))
			}
			if _, err := client.Apply(ctx, muts); err != nil {
				return fmt.Errorf("raw sink %s: %w", p.Target, err)
			}
			spent += time.Since(t0)
			rows += int64(len(pending))
			pending = pending[:0]
			return nil
		}
		r := copier.NewReader(&source.Querier{DB: d.Pool}, p, batch, time.UTC)
		_, err := r.Read(ctx, chunking.Chunk{Table: p.Source, Of: 1}, func(row *copier.Row) error {
			if row.Bad != nil {
				return fmt.Errorf("raw sink %s: column %s: %s", p.Source, row.BadColumn, row.Bad.Reason)
			}
			pending = append(pending, row.Vals)
			if len(pending) == batch {
				return flush()
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return newMeasurement(rows, spent), nil
}

// PlanTiming is (6b): chunking.Plan against SELECT COUNT(*) on the same
// tables (best of three each, after a warm-up).
type PlanTiming struct {
	PlanSeconds  float64 `json:"plan_seconds"`
	CountSeconds float64 `json:"count_seconds"`
	Chunks       int     `json:"chunks"`
	Ratio        float64 `json:"plan_over_count"`
}

func measurePlan(ctx context.Context, d *dataset) (*PlanTiming, error) {
	best := func(f func() error) (time.Duration, error) {
		var b time.Duration
		for i := 0; i < 4; i++ { // first run warms the buffer pool
			t0 := time.Now()
			if err := f(); err != nil {
				return 0, err
			}
			if el := time.Since(t0); i > 0 && (b == 0 || el < b) {
				b = el
			}
		}
		return b, nil
	}
	var chunks int
	countD, err := best(func() error {
		for i := range d.Plans {
			var n int64
			if err := d.Pool.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+schema.QuoteIdent(d.Plans[i].Source)).Scan(&n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count: %w", err)
	}
	planD, err := best(func() error {
		chunks = 0
		for i := range d.Plans {
			c, err := chunking.Plan(ctx, &source.Querier{DB: d.Pool}, &d.Plans[i], chunking.Options{})
			if err != nil {
				return err
			}
			chunks += len(c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	pt := &PlanTiming{PlanSeconds: planD.Seconds(), CountSeconds: countD.Seconds(), Chunks: chunks}
	if pt.CountSeconds > 0 {
		pt.Ratio = pt.PlanSeconds / pt.CountSeconds
	}
	return pt, nil
}
