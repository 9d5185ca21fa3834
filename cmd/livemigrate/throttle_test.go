package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/target"
)

// TestThrottledBackfill runs the CLI with a throttle section: a rows/s
// budget stretches the copy, a burst of busy connections on the source
// pushes Threads_running over critical mid-run so the copy pauses, and the
// report shows the paused time while every row still lands.
func TestThrottledBackfill(t *testing.T) {
	ctx := testenv.Context(t)
	e := testenv.New(t)
	const n = 16000
	e.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))", fmt.Sprintf("INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_%d", n))
	specPath := e.SpecYAML(t, `  - source: t
    chunking: {target_rows: 5000, page_rows: 500}
throttle:
  rows_per_second: 2500
  increase: 0.25
  threads_running: {max: 6, critical: 10}
`)
	if out, errOut, code := runCLI(t, nil, "plan", "--spec", specPath, "--apply"); code != 0 {
		t.Fatalf("plan --apply: exit %d\n%s%s", code, out, errOut)
	}
	report := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.Command(testenv.Binary(t), "backfill", "--spec", specPath, "--job", "throttled-1", "--report-json", report,
		"--dead-letter", filepath.Join(t.TempDir(), "dl"), "--progress", "lines", "--progress-interval", "1s")
	cmd.Env = os.Environ()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Load the source for 3 s once the copy is under way: 16 sessions
	// sleeping count as running threads.
	time.Sleep(2 * time.Second)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.MySQL.ExecContext(ctx, "SELECT SLEEP(3)")
		}()
	}
	// status, from another process, shows the throttle while the load is on.
	time.Sleep(1500 * time.Millisecond)
	statusOut, _, _ := runCLI(t, nil, "status", "--spec", specPath, "--job", "throttled-1")
	wg.Wait()
	err := cmd.Wait()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("backfill: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	rep := readReport(t, report)
	if rep.Throttle == nil || rep.Throttle.PausedSeconds <= 0 {
		t.Fatalf("the report shows no paused time: %+v\n%s", rep.Throttle, out.String())
	}
	if !strings.Contains(out.String(), "source throttle: throttled") {
		t.Errorf("the summary does not mention the throttle:\n%s", out.String())
	}
	// The live progress shows the throttle's state, reason and rates.
	if !strings.Contains(errOut.String(), "source_throttle=") || !strings.Contains(errOut.String(), `source_throttle="paused: threads_running`) ||
		!strings.Contains(errOut.String(), "threads_running") {
		t.Errorf("the progress lines do not show the throttle pausing the copy:\n%s", errOut.String())
	}
	if !strings.Contains(statusOut, "source throttle: ") {
		t.Errorf("status during the run does not show the throttle:\n%s", statusOut)
	}
	// 16,000 rows at 2,500 rows/s cannot take less than ~6 s.
	if took < 5*time.Second {
		t.Errorf("the budget did not hold: %d rows in %v", n, took)
	}
	if got, err := target.Count(ctx, e.SpannerDB, "t"); err != nil || got != n {
		t.Fatalf("target holds %d rows (%v), want %d", got, err, n)
	}
	t.Logf("throttled backfill: %v, throttle %+v", took.Round(time.Millisecond), *rep.Throttle)
}
