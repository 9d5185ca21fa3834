package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"cloud.google.com/go/spanner"
	"golang.org/x/sys/unix"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/progress"
	"github.com/livemigrate/livemigrate/ratelimit"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// barsDisplay is the terminal display with the log routed above its bars.
type barsDisplay struct {
	*progress.Bars
	restore func()
}

func (b barsDisplay) Close() {
	b.restore()
	b.Bars.Close()
}

// newDisplay picks the progress display: live bars on a terminal, log
// lines elsewhere (--progress overrides).
func (r *running) newDisplay() progress.Display {
	mode := r.o.progress
	if mode == "auto" {
		mode = "lines"
		if isTerminal(os.Stderr) {
			mode = "bars"
		}
	}
	switch mode {
	case "bars":
		var names []string
		for _, p := range r.j.Plans() {
			names = append(names, p.Source)
		}
		b := progress.NewBars(os.Stderr, names, !isTerminal(os.Stderr))
		if r.cfg.Throttle.Enabled() {
			b.ShowThrottle()
		}
		return barsDisplay{Bars: b, restore: logs.out.Swap(b)}
	case "lines":
		return progress.NewLines(slog.Default())
	}
	return progress.None{}
}

// showProgress feeds the display snapshots of the progress table until
// done: every half second for bars, every --progress-interval for lines.
func (r *running) showProgress(ctx context.Context, disp progress.Display, stopping func() bool, done <-chan struct{}) {
	every := r.o.progressEvery
	if _, ok := disp.(barsDisplay); ok {
		every = 500 * time.Millisecond
	}
	if _, ok := disp.(progress.None); ok {
		return
	}
	failing := false
	for last := false; !last; {
		select {
		case <-done:
			// One last snapshot, so the display ends on the run's end.
			last = true
			ctx = context.WithoutCancel(ctx)
		case <-time.After(every):
		}
		qctx, cancel := context.WithTimeout(ctx, max(every, 5*time.Second))
		prog, err := checkpoint.Status(qctx, r.client, r.o.jobID)
		cancel()
		if err != nil {
			if !failing {
				slog.Warn("progress unavailable: cannot read the progress table", "cause", oneLine(err))
			}
			failing = true
			continue
		}
		failing = false
		snap := snapshot(r, prog, stopping())
		if r.cfg.Throttle.Enabled() {
			qctx, cancel := context.WithTimeout(ctx, max(every, 5*time.Second))
			if st, n, err := throttleStatus(qctx, r.client, r.o.jobID, r.cfg.Throttle.WorkerTTL()); err == nil && n > 0 {
				snap.Throttle, snap.ThrottleState = throttleLine(st, n), string(st.State)
			}
			cancel()
		}
		disp.Update(snap)
	}
}

func snapshot(r *running, prog []checkpoint.TableProgress, stopping bool) progress.Snapshot {
	byName := map[string]checkpoint.TableProgress{}
	for _, p := range prog {
		byName[p.Table] = p
	}
	s := progress.Snapshot{At: time.Now(), Stopping: stopping}
	for _, p := range r.j.Plans() {
		tp := byName[p.Source]
		s.Tables = append(s.Tables, progress.Table{Name: p.Source, Chunks: tp.Chunks, Done: tp.Done, Running: tp.Running, Rows: tp.RowsRead, Planned: tp.PlannedRows})
	}
	return s
}

// throttleStatus sums the throttle status the job's live workers publish
// with their heartbeats (livemigrate_workers); n is how many are live.
func throttleStatus(ctx context.Context, c *spanner.Client, jobID string, ttl time.Duration) (ratelimit.Status, int, error) {
	ws, err := checkpoint.Workers(ctx, c, jobID, ttl)
	if err != nil {
		return ratelimit.Status{}, 0, err
	}
	var live []ratelimit.Status
	for _, w := range ws {
		if w.Live {
			live = append(live, w.Status)
		}
	}
	if len(live) == 0 {
		return ratelimit.Status{}, 0, nil
	}
	return ratelimit.Sum(live), len(live), nil
}

// throttleLine renders the summed status for the display and status.
func throttleLine(st ratelimit.Status, workers int) string {
	return fmt.Sprintf("%s (%d live worker(s))", st.String(), workers)
}
