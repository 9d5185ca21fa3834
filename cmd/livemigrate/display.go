package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/progress"
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
		disp.Update(snapshot(r, prog, stopping()))
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
