package checkpoint_test

import (
	"testing"
	"time"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/ratelimit"
	"github.com/livemigrate/livemigrate/target"
)

// TestWorkerRegistry: heartbeats list the job's live workers (jobs kept
// apart), a worker without a heartbeat within the ttl stops counting, Leave
// removes one at once, and Workers decodes the published status.
func TestWorkerRegistry(t *testing.T) {
	e := testenv.New(t)
	ctx := testenv.Context(t)
	if err := checkpoint.EnsureWorkers(ctx, e.SpannerDB); err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.EnsureWorkers(ctx, e.SpannerDB); err != nil {
		t.Fatalf("second EnsureWorkers: %v", err)
	}
	c, err := target.Client(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	var reg ratelimit.Registry = checkpoint.NewWorkerRegistry(c)
	const ttl = 1500 * time.Millisecond
	st := ratelimit.Status{State: ratelimit.Throttled, Reason: "cpu 83 % > 70 %", AllowedRowsPerSecond: 1234, PausedFor: 3 * time.Second}
	beat := func(job, w string) []string {
		t.Helper()
		ids, err := reg.Heartbeat(ctx, job, w, ttl, st)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	beat("j1", "w-b")
	beat("j2", "w-x")
	if ids := beat("j1", "w-a"); len(ids) != 2 || ids[0] != "w-a" || ids[1] != "w-b" {
		t.Fatalf("live workers of j1: %v", ids)
	}
	time.Sleep(ttl + 300*time.Millisecond)
	if ids := beat("j1", "w-a"); len(ids) != 1 || ids[0] != "w-a" {
		t.Fatalf("after w-b went quiet for longer than the ttl: %v", ids)
	}
	ws, err := checkpoint.Workers(ctx, c, "j1", ttl)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[0].ID != "w-a" || !ws[0].Live || ws[1].ID != "w-b" || ws[1].Live ||
		ws[0].Status.Reason != st.Reason || ws[0].Status.PausedFor != st.PausedFor || ws[0].Heartbeat.IsZero() {
		t.Fatalf("workers %+v", ws)
	}
	if err := reg.Leave(ctx, "j1", "w-a"); err != nil {
		t.Fatal(err)
	}
	if ids := beat("j1", "w-c"); len(ids) != 1 || ids[0] != "w-c" {
		t.Fatalf("after w-a left: %v", ids)
	}
	if ids := beat("j2", "w-y"); len(ids) != 1 {
		t.Fatalf("j2 (w-x quiet): %v", ids)
	}
}
