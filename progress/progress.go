// Package progress owns showing a running job's progress to its operator:
// a live per-table display on a terminal (bars drawn by mpb: chunks, rows,
// rows/s, ETA, state), or, where there is no terminal (a CI log, Cloud
// Logging), one log line per table every interval.
//
// The one idea: a display is fed only snapshots of the job's progress
// table — the chunks' heartbeats, written every few pages by whichever
// worker copies them — never the runner's end-of-job results. So it shows
// the same on Prism and on Dataflow, moves from the first seconds of a run
// (rows inside running chunks count), and `livemigrate status` reads the
// very same numbers from anywhere.
package progress

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Table is one table's progress in a snapshot.
type Table struct {
	Name    string
	Chunks  int64 // planned chunks; 0 while the table is being planned
	Done    int64 // chunks done
	Running int64 // chunks in flight
	Rows    int64 // rows copied so far: done chunks plus running ones
	Planned int64 // planned rows
}

// Snapshot is the job's progress at one moment.
type Snapshot struct {
	At       time.Time
	Tables   []Table
	Stopping bool // an interrupt asked the run to stop
	// Throttle is the source throttle's one-line status summed over the
	// job's live workers ("" when the job is not throttled), and
	// ThrottleState its state (running, throttled, paused, ...).
	Throttle      string
	ThrottleState string
}

// shownState is a table's state as displayed: a copying table shows the
// throttle's state while the throttle holds it back.
func (s Snapshot) shownState(t Table) string {
	st := t.State(s.Stopping)
	if st == "copying" && (s.ThrottleState == "throttled" || s.ThrottleState == "paused") {
		return s.ThrottleState
	}
	return st
}

// State is the table's state: done, stopping, planning (no plan stored
// yet), waiting (planned, no chunk started) or copying.
func (t Table) State(stopping bool) string {
	switch {
	case t.Chunks > 0 && t.Done == t.Chunks:
		return "done"
	case stopping:
		return "stopping"
	case t.Chunks == 0:
		return "planning"
	case t.Running == 0 && t.Done == 0:
		return "waiting"
	}
	return "copying"
}

// Display shows snapshots.
type Display interface {
	Update(Snapshot)
	Close()
}

// None shows nothing.
type None struct{}

func (None) Update(Snapshot) {}
func (None) Close()          {}

// meter turns rows-over-time samples into a rate over the last window.
type meter struct {
	at   []time.Time
	rows []int64
}

const rateWindow = 30 * time.Second

func (m *meter) add(at time.Time, rows int64) {
	m.at, m.rows = append(m.at, at), append(m.rows, rows)
	for len(m.at) > 2 && at.Sub(m.at[0]) > rateWindow {
		m.at, m.rows = m.at[1:], m.rows[1:]
	}
}

// rate is rows per second over the window; 0 until two samples exist.
func (m *meter) rate() float64 {
	n := len(m.at)
	if n < 2 {
		return 0
	}
	d := m.at[n-1].Sub(m.at[0]).Seconds()
	if d <= 0 || m.rows[n-1] < m.rows[0] {
		return 0
	}
	return float64(m.rows[n-1]-m.rows[0]) / d
}

// ETA is the time the remaining planned rows take at rate ("-" when
// unknown).
func ETA(t Table, rate float64) string {
	left := t.Planned - t.Rows
	switch {
	case t.Chunks > 0 && t.Done == t.Chunks:
		return "0s"
	case rate <= 0 || t.Planned == 0:
		return "-"
	case left <= 0:
		return "<1s"
	}
	return time.Duration(float64(left) / rate * float64(time.Second)).Round(time.Second).String()
}

// Lines logs one line per table for every snapshot (the caller paces the
// snapshots: --progress-interval); a table that is done is logged once.
type Lines struct {
	log    *slog.Logger
	meters map[string]*meter
	logged map[string]bool
}

// NewLines logs through log.
func NewLines(log *slog.Logger) *Lines {
	return &Lines{log: log, meters: map[string]*meter{}, logged: map[string]bool{}}
}

func (l *Lines) Update(s Snapshot) {
	for _, t := range s.Tables {
		m := l.meters[t.Name]
		if m == nil {
			m = &meter{}
			l.meters[t.Name] = m
		}
		m.add(s.At, t.Rows)
		state := s.shownState(t)
		if state == "done" {
			if l.logged[t.Name] {
				continue
			}
			l.logged[t.Name] = true
		}
		pct := 0.0
		if t.Planned > 0 {
			pct = 100 * float64(t.Rows) / float64(t.Planned)
		}
		l.log.Info("progress", "table", t.Name, "state", state, "chunks", fmt.Sprintf("%d/%d", t.Done, t.Chunks), "running", t.Running,
			"rows", t.Rows, "planned_rows", t.Planned, "pct", fmt.Sprintf("%.1f", pct), "rows_per_s", fmt.Sprintf("%.0f", m.rate()), "eta", ETA(t, m.rate()))
	}
	if s.Throttle != "" {
		l.log.Info("progress", "source_throttle", s.Throttle)
	}
}

func (l *Lines) Close() {}

// Bars is the live terminal display: one bar per table.
type Bars struct {
	p    *mpb.Progress
	mu   sync.Mutex
	bars map[string]*tableBar
	// throttle is the source throttle's line (a bar of its own, shown
	// when the job is throttled).
	throttle    *mpb.Bar
	throttleTxt string
	// order keeps the spec's table order.
	order []string
}

type tableBar struct {
	b     *mpb.Bar
	total int64
	m     meter
	t     Table
	state string
	rate  float64
	done  bool
}

// NewBars draws one bar per table on w, a terminal (force: draw even when
// w is not one).
func NewBars(w io.Writer, tables []string, force bool) *Bars {
	opts := []mpb.ContainerOption{mpb.WithOutput(w), mpb.WithRefreshRate(250 * time.Millisecond), mpb.WithWidth(32)}
	if force {
		opts = append(opts, mpb.ForceTTY())
	}
	d := &Bars{p: mpb.New(opts...), bars: map[string]*tableBar{}, order: tables}
	for _, name := range tables {
		tb := &tableBar{state: "planning", t: Table{Name: name}}
		// Total 0: the bar completes only when the table is done (SetTotal
		// with forceComplete), never because its rows reached an estimate.
		tb.b = d.p.AddBar(0,
			mpb.PrependDecorators(decor.Name(name, decor.WCSyncWidthR), decor.Any(func(decor.Statistics) string {
				d.mu.Lock()
				defer d.mu.Unlock()
				return fmt.Sprintf(" %-8s", tb.state)
			})),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
				d.mu.Lock()
				defer d.mu.Unlock()
				t := tb.t
				return fmt.Sprintf(" chunks %d/%d  rows %d/%d  %.0f rows/s  ETA %s", t.Done, t.Chunks, t.Rows, t.Planned, tb.rate, ETA(t, tb.rate))
			})))
		d.bars[name] = tb
	}
	return d
}

// ShowThrottle adds a line under the bars with the source throttle's
// status (call once, when the job has a throttle section).
func (d *Bars) ShowThrottle() {
	d.throttle = d.p.AddBar(0, mpb.BarFillerClearOnComplete(), mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.throttleTxt == "" {
			return "source throttle: waiting for the workers' first heartbeat"
		}
		return "source throttle: " + d.throttleTxt
	})))
}

// Write prints log lines above the bars.
func (d *Bars) Write(b []byte) (int, error) { return d.p.Write(b) }

func (d *Bars) Update(s Snapshot) {
	d.mu.Lock()
	d.throttleTxt = s.Throttle
	d.mu.Unlock()
	for _, t := range s.Tables {
		d.mu.Lock()
		tb := d.bars[t.Name]
		if tb == nil || tb.done {
			d.mu.Unlock()
			continue
		}
		tb.m.add(s.At, t.Rows)
		tb.t, tb.rate, tb.state = t, tb.m.rate(), s.shownState(t)
		done := tb.state == "done"
		tb.done = done
		d.mu.Unlock()
		total := max(t.Planned, t.Rows, 1)
		if done {
			tb.b.SetTotal(total, true)
			continue
		}
		if total != tb.total {
			tb.total = total
			tb.b.SetTotal(total, false)
		}
		tb.b.SetCurrent(t.Rows)
	}
}

// Close stops the display, leaving its last state on the terminal.
func (d *Bars) Close() {
	if d.throttle != nil && !d.throttle.Completed() {
		d.throttle.Abort(false)
	}
	for _, name := range d.order {
		tb := d.bars[name]
		if !tb.b.Completed() {
			tb.b.Abort(false)
		}
	}
	d.p.Wait()
}
