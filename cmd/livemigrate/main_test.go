package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/livemigrate/livemigrate/checkpoint"
)

func TestRootCause(t *testing.T) {
	err := errors.New("job job-001 failed: bundle inst002 stage-002 failed:process bundle failed for instruction inst002 using plan stage-002 : while executing Process for Plan[stage-002]:\n1: DataSource[S[x], i0] Out:6\n\tcaused by:\nsource failed processing data\n\tcaused by:\nDoFn[UID:6, PID:e5, Name: github.com/livemigrate/livemigrate/transforms.CopyChunkFn] failed:\nwrite 100 rows to T: boom")
	if got := rootCause(err); got != "write 100 rows to T: boom" {
		t.Fatalf("rootCause = %q", got)
	}
	if got := rootCause(errors.New("plain")); got != "plain" {
		t.Fatalf("rootCause = %q", got)
	}
}

func TestIsWorker(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"--worker=true", "--id=1"}, true},
		{[]string{"-worker"}, true},
		{[]string{"backfill", "--spec", "x"}, false},
		{[]string{"backfill", "--workers", "3"}, false},
	} {
		if got := isWorker(c.args); got != c.want {
			t.Errorf("isWorker(%v) = %v", c.args, got)
		}
	}
}

func TestResumeCommand(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"./lm", "backfill", "--spec", "s.yaml"}, "./lm backfill --job J --spec s.yaml"},
		{[]string{"./lm", "backfill", "--spec", "s.yaml", "--job-id", "old", "--chunk-rows", "5"}, "./lm backfill --job J --spec s.yaml --chunk-rows 5"},
		{[]string{"lm", "backfill", "--job=old", "--spec", "my spec.yaml"}, "lm backfill --job J --spec 'my spec.yaml'"},
		{[]string{"lm", "backfill", "--job", "J", "--runner", "dataflow"}, "lm backfill --job J --runner dataflow"},
		{nil, "livemigrate backfill --job J"},
	} {
		if got := resumeCommand(c.args, "J"); got != c.want {
			t.Errorf("resumeCommand(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}

func TestLastErrorKeepsNoValues(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"write 20 rows to T: Row [42, 'alice@example.com'] in table T already exists", "write 20 rows to T: Row […] in table T already exists"},
		{"Error 1062: Duplicate entry 'alice' for key 'PRIMARY'", "Error 1062: Duplicate entry '…' for key '…'"},
		{"line one\n  line two", "line one line two"},
		{"Column not found in table products: description", "Column not found in table products: description"},
	} {
		if got := lastError(errors.New(c.in)); got != c.want {
			t.Errorf("lastError(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := lastError(errors.New(strings.Repeat("x", 2000))); len(got) > 510 {
		t.Errorf("lastError keeps %d characters", len(got))
	}
}

// TestLogFilter: our records pass at the level; the runner's (Beam's,
// Prism's) only at debug, except Dataflow's messages below ERROR.
func TestLogFilter(t *testing.T) {
	runnerPC := reflect.ValueOf(strings.ToUpper).Pointer() // any function outside livemigrate
	var ourPC [1]uintptr
	runtime.Callers(1, ourPC[:])
	for _, c := range []struct {
		level, runner string
		rec           slog.Level
		ours          bool
		want          bool
	}{
		{"info", "prism", slog.LevelInfo, true, true},
		{"info", "prism", slog.LevelDebug, true, false},
		{"warn", "prism", slog.LevelInfo, true, false},
		{"info", "prism", slog.LevelError, false, false},
		{"info", "prism", slog.LevelInfo, false, false},
		{"debug", "prism", slog.LevelError, false, true},
		{"debug", "prism", slog.LevelDebug, false, true},
		{"info", "dataflow", slog.LevelInfo, false, true},
		{"info", "dataflow", slog.LevelError, false, false},
	} {
		var buf bytes.Buffer
		l, err := newLogging(&buf, c.level, "text")
		if err != nil {
			t.Fatal(err)
		}
		l.runner = c.runner
		h := &filter{l: l, h: l.base}
		pc := runnerPC
		if c.ours {
			pc = ourPC[0]
		}
		if h.Enabled(context.Background(), c.rec) {
			h.Handle(context.Background(), slog.NewRecord(time.Now(), c.rec, "msg", pc))
		}
		if got := buf.Len() > 0; got != c.want {
			t.Errorf("level %s runner %s record %s ours=%v: shown %v, want %v", c.level, c.runner, c.rec, c.ours, got, c.want)
		}
	}
}

// TestReportMatchUnderLiveWrites: counts that differ while the live path
// writes are indicative (live*, with the note), not a false NO.
func TestReportMatchUnderLiveWrites(t *testing.T) {
	rep := Report{Runner: "prism", Tables: []TableReport{
		{Source: "calm", Target: "calm", SourceRows: 10, TargetRows: 10, CountsEqual: true},
		{Source: "busy", Target: "busy", SourceRows: 12, TargetRows: 10, LiveWrites: true},
		{Source: "lost", Target: "lost", SourceRows: 12, TargetRows: 10},
	}}
	var buf bytes.Buffer
	printReport(&buf, rep, true)
	out := buf.String()
	for table, want := range map[string]string{"calm": "yes", "busy": "live*", "lost": "NO"} {
		if f := strings.Fields(lineOf(out, table)); len(f) == 0 || f[len(f)-1] != want {
			t.Errorf("%s: MATCH %v, want %s\n%s", table, f, want, out)
		}
	}
	if !strings.Contains(out, "counts are indicative only; run `livemigrate verify`") {
		t.Errorf("no note on live counts:\n%s", out)
	}
}

func TestTableState(t *testing.T) {
	for _, c := range []struct {
		p    checkpoint.TableProgress
		job  string
		want string
	}{
		{checkpoint.TableProgress{Chunks: 3, Done: 3}, checkpoint.JobInterrupted, "done"},
		{checkpoint.TableProgress{Chunks: 3, Done: 1}, checkpoint.JobInterrupted, "interrupted"},
		{checkpoint.TableProgress{Chunks: 3, Done: 1}, checkpoint.JobStale, "stale"},
		{checkpoint.TableProgress{Chunks: 3, Done: 1, Running: 2}, checkpoint.JobRunning, "copying"},
		{checkpoint.TableProgress{Chunks: 3}, checkpoint.JobRunning, "waiting"},
		{checkpoint.TableProgress{}, checkpoint.JobRunning, "planning"},
		{checkpoint.TableProgress{Chunks: 3, Running: 1}, checkpoint.JobStopping, "stopping"},
		{checkpoint.TableProgress{Chunks: 3}, "", "planned"},
		{checkpoint.TableProgress{Chunks: 3, Running: 1}, "", "running"},
	} {
		if got := tableState(c.p, c.job); got != c.want {
			t.Errorf("tableState(%+v, %q) = %s, want %s", c.p, c.job, got, c.want)
		}
	}
}
