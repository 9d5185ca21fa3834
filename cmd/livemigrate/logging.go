package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
)

// Logging. Every record of the process — ours, the engine's on a loopback
// worker, Beam's and the Prism runner's — goes through one slog handler
// (text or JSON, --log-format) with one filter: records of livemigrate's
// own code pass at --log-level; the runner's records (Beam, Prism) pass only
// at --log-level debug, except Dataflow's job messages below ERROR (the job
// URL, state changes, the dry run's job). So the runner's multi-line ERROR
// dumps of a failed bundle never appear by default: the failure's root
// cause, one line, is the first and only error line.

// swapWriter is the log output; the terminal progress display swaps itself
// in while it runs, so log lines print above its bars.
type swapWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *swapWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	return w.Write(p)
}

// Swap makes w the output until restore is called.
func (s *swapWriter) Swap(w io.Writer) (restore func()) {
	s.mu.Lock()
	old := s.w
	s.w = w
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.w = old
		s.mu.Unlock()
	}
}

type logging struct {
	level  slog.Level
	debug  bool
	json   bool
	runner string
	out    *swapWriter
	base   slog.Handler
}

func newLogging(stderr io.Writer, level, format string) (*logging, error) {
	l := &logging{out: &swapWriter{w: stderr}}
	switch level {
	case "debug":
		l.level, l.debug = slog.LevelDebug, true
	case "info", "auto":
		l.level = slog.LevelInfo
	case "warn":
		l.level = slog.LevelWarn
	case "error":
		l.level = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: slog.LevelDebug, AddSource: l.debug}
	switch format {
	case "text":
		l.base = slog.NewTextHandler(l.out, opts)
	case "json":
		l.json = true
		l.base = slog.NewJSONHandler(l.out, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: use text or json", format)
	}
	return l, nil
}

func (l *logging) levelName() string {
	switch {
	case l.debug:
		return "debug"
	case l.level >= slog.LevelError:
		return "error"
	case l.level >= slog.LevelWarn:
		return "warn"
	}
	return "info"
}

// install makes the filtered handler the process's default logger.
func (l *logging) install() {
	slog.SetDefault(slog.New(&filter{l: l, h: l.base}))
}

// fail reports a command's failure: one line on stderr (a JSON record with
// --log-format json).
func (l *logging) fail(cmd string, err error) {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
	if l.json {
		slog.New(l.base).Error("livemigrate "+cmd+" failed", "error", msg)
		return
	}
	fmt.Fprintf(l.out, "livemigrate %s: %s\n", cmd, msg)
}

// runnerLogs reports whether the runner's own records below ERROR pass at
// the configured level: only Dataflow's (its job messages), never Prism's
// chatter.
func (l *logging) runnerLogs() bool {
	return strings.HasPrefix(strings.ToLower(l.runner), "dataflow")
}

type filter struct {
	l *logging
	h slog.Handler
}

func (f *filter) Enabled(_ context.Context, lv slog.Level) bool { return f.l.debug || lv >= f.l.level }

func (f *filter) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case f.l.debug:
	case r.Level < f.l.level:
		return nil
	case !ours(r.PC) && (!f.l.runnerLogs() || r.Level >= slog.LevelError):
		return nil
	}
	return f.h.Handle(ctx, r)
}

func (f *filter) WithAttrs(as []slog.Attr) slog.Handler { return &filter{l: f.l, h: f.h.WithAttrs(as)} }
func (f *filter) WithGroup(name string) slog.Handler    { return &filter{l: f.l, h: f.h.WithGroup(name)} }

// ours reports whether a record was logged by livemigrate's own code.
func ours(pc uintptr) bool {
	if pc == 0 {
		return false
	}
	fr, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	return strings.HasPrefix(fr.Function, "github.com/livemigrate/livemigrate/") || strings.HasPrefix(fr.Function, "main.")
}
