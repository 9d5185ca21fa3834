package checkpoint_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/target"
)

// TestJobLease: one run holds a job; a second is refused naming the
// holder; chunks stop when the job stops or another run holds it; a lease
// whose heartbeat is older than the timeout is stale and taken over.
func TestJobLease(t *testing.T) {
	e := testenv.New(t)
	ctx := testenv.Context(t)
	if err := checkpoint.Ensure(ctx, e.SpannerDB); err != nil {
		t.Fatal(err)
	}
	c, err := target.Client(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	h1 := checkpoint.Holder{ID: "run1", Host: "host-a", Pid: 11}
	h2 := checkpoint.Holder{ID: "run2", Host: "host-b", Pid: 22}
	if prev, err := checkpoint.Acquire(ctx, c, "j", h1, time.Minute); err != nil || prev.Found {
		t.Fatalf("first acquire: %+v %v", prev, err)
	}
	_, err = checkpoint.Acquire(ctx, c, "j", h2, time.Minute)
	var held *checkpoint.HeldError
	if !errors.As(err, &held) || !strings.Contains(err.Error(), "run run1 on host-a (pid 11)") {
		t.Fatalf("second acquire: %v", err)
	}
	chunks := plan("orders", 2)
	if err := checkpoint.Save(ctx, c, "j", "orders", "id", chunks); err != nil {
		t.Fatal(err)
	}
	if stop, err := checkpoint.ChunkProgress(ctx, c, "j", "run1", chunks[0], 5, time.Now()); err != nil || stop {
		t.Fatalf("holder's progress: stop=%v %v", stop, err)
	}
	if stop, err := checkpoint.ChunkProgress(ctx, c, "j", "run2", chunks[1], 0, time.Now()); err != nil || !stop {
		t.Fatalf("another run's chunk must stop: stop=%v %v", stop, err)
	}
	st, err := checkpoint.Status(ctx, c, "j")
	if err != nil || len(st) != 1 || st[0].Running != 1 || st[0].RowsRead != 5 || st[0].Done != 0 {
		t.Fatalf("status (the job row must not count as a table): %+v %v", st, err)
	}
	if err := checkpoint.Beat(ctx, c, "j", "run2"); !errors.Is(err, checkpoint.ErrLeaseLost) {
		t.Fatalf("a non-holder's heartbeat: %v", err)
	}
	if err := checkpoint.RequestStop(ctx, c, "j", "run1"); err != nil {
		t.Fatal(err)
	}
	if stop, err := checkpoint.ChunkProgress(ctx, c, "j", "run1", chunks[0], 9, time.Now()); err != nil || !stop {
		t.Fatalf("a stopping job's chunk must stop: stop=%v %v", stop, err)
	}
	if err := checkpoint.Finish(ctx, c, "j", "run1", checkpoint.JobFailed, "boom"); err != nil {
		t.Fatal(err)
	}
	js, err := checkpoint.ReadJob(ctx, c, "j")
	if err != nil || js.Status != checkpoint.JobFailed || js.LastError != "boom" || js.Ended.IsZero() || js.Live(time.Minute) {
		t.Fatalf("after finish: %+v %v", js, err)
	}
	if prev, err := checkpoint.Acquire(ctx, c, "j", h2, time.Minute); err != nil || prev.Status != checkpoint.JobFailed {
		t.Fatalf("a failed job is resumed by a new run: %+v %v", prev, err)
	}
	if js, _ := checkpoint.ReadJob(ctx, c, "j"); js.Status != checkpoint.JobRunning || js.Holder != h2 || js.LastError != "" {
		t.Fatalf("after the new run took it: %+v", js)
	}

	// A run that died: its heartbeat ages past the timeout.
	if _, err := checkpoint.Acquire(ctx, c, "k", h1, time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	js, err = checkpoint.ReadJob(ctx, c, "k")
	if err != nil || js.Shown(time.Second) != checkpoint.JobStale || js.Shown(time.Minute) != checkpoint.JobRunning {
		t.Fatalf("aged heartbeat: %+v %v", js, err)
	}
	if prev, err := checkpoint.Acquire(ctx, c, "k", h2, time.Second); err != nil || prev.Shown(time.Second) != checkpoint.JobStale || prev.Holder != h1 {
		t.Fatalf("takeover of a stale lease: %+v %v", prev, err)
	}
	if err := checkpoint.Beat(ctx, c, "k", "run1"); !errors.Is(err, checkpoint.ErrLeaseLost) {
		t.Fatalf("the old holder's heartbeat after the takeover: %v", err)
	}
}

// TestUpgradeFromFirstLayout: a progress table created by the first
// version gets the missing columns; a current one needs nothing.
func TestUpgradeFromFirstLayout(t *testing.T) {
	e := testenv.New(t)
	ctx := testenv.Context(t)
	first := strings.Split(checkpoint.DDL, "  Holder STRING(64),")[0] + ") PRIMARY KEY (JobId, TableName, ChunkId)"
	if err := target.ApplyDDL(ctx, e.SpannerDB, []string{first}); err != nil {
		t.Fatal(err)
	}
	stmts, err := checkpoint.Upgrade(ctx, e.SpannerDB)
	if err != nil || len(stmts) != 5 || !strings.HasPrefix(stmts[0], "ALTER TABLE livemigrate_progress ADD COLUMN Holder") {
		t.Fatalf("upgrade: %q %v", stmts, err)
	}
	if err := target.ApplyDDL(ctx, e.SpannerDB, stmts); err != nil {
		t.Fatal(err)
	}
	if stmts, err := checkpoint.Upgrade(ctx, e.SpannerDB); err != nil || len(stmts) != 0 {
		t.Fatalf("after the upgrade: %q %v", stmts, err)
	}
}
