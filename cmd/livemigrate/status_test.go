package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/api/iterator"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/internal/testenv"
)

// chunkRow is one chunk's progress row.
type chunkRow struct {
	id              int64
	status          string
	rows            int64
	started, doneAt time.Time
}

func progressRows(t *testing.T, client *spanner.Client, jobID, table string) []chunkRow {
	t.Helper()
	rows, err := tryProgressRows(t, client, jobID, table)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// tryProgressRows is progressRows that returns the error, for polling
// before the backfill has created the table.
func tryProgressRows(t *testing.T, client *spanner.Client, jobID, table string) ([]chunkRow, error) {
	it := client.Single().Query(testenv.Context(t), spanner.Statement{
		SQL: "SELECT ChunkId, Status, COALESCE(RowsRead, -1), StartedAt, DoneAt FROM " + checkpoint.Table +
			" WHERE JobId = @job AND TableName = @table AND ChunkId >= 0 ORDER BY ChunkId",
		Params: map[string]any{"job": jobID, "table": table}})
	defer it.Stop()
	var out []chunkRow
	for {
		r, err := it.Next()
		if err == iterator.Done {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var c chunkRow
		var s, d spanner.NullTime
		if err := r.Columns(&c.id, &c.status, &c.rows, &s, &d); err != nil {
			return nil, err
		}
		c.started, c.doneAt = s.Time, d.Time
		out = append(out, c)
	}
}

// maxOverlap is the largest number of chunks whose [started, done]
// intervals overlap: how many chunks really ran at once.
func maxOverlap(rows []chunkRow) int {
	type ev struct {
		at    time.Time
		delta int
	}
	var evs []ev
	for _, r := range rows {
		if r.status == checkpoint.StatusDone {
			evs = append(evs, ev{r.started, 1}, ev{r.doneAt, -1})
		}
	}
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].at.Equal(evs[j].at) {
			return evs[i].delta < evs[j].delta
		}
		return evs[i].at.Before(evs[j].at)
	})
	cur, best := 0, 0
	for _, e := range evs {
		cur += e.delta
		best = max(best, cur)
	}
	return best
}

// TestCrashResume SIGKILLs a running backfill after some chunks are
// recorded done, reruns it with the same job id, and checks that the target
// equals the source and that the rerun read exactly the rows of the chunks
// that were not done. It also proves the lease: a second run of the job
// while the first runs is refused (exit 2, naming the holder); after the
// SIGKILL, status shows the job stale once its heartbeat is older than the
// lease timeout (shortened here), and the rerun takes it over.
func TestCrashResume(t *testing.T) {
	const rows, chunkRows = 200000, 5000
	e := testenv.New(t)
	ctx := testenv.Context(t)
	e.Exec(t, "CREATE TABLE big (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL, v INT)",
		fmt.Sprintf("INSERT INTO big SELECT seq * 3, CONCAT('name-', seq, REPEAT('x', seq %% 20)), seq FROM seq_1_to_%d", rows),
		"ANALYZE TABLE big")
	specPath := e.SpecYAML(t, "  - source: big\n    target: Big\n")
	if out, errOut, code := runCLI(t, nil, "plan", "--spec", specPath, "--apply"); code != 0 {
		t.Fatalf("plan --apply: exit %d\n%s\n%s", code, out, errOut)
	}
	client, err := spanner.NewClient(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	const jobID = "crash-test-1"
	args := []string{"backfill", "--spec", specPath, "--job-id", jobID, "--chunk-rows", fmt.Sprint(chunkRows),
		"--dead-letter", filepath.Join(t.TempDir(), "dl.jsonl"), "--lease-timeout", "3s"}

	// First run: kill it once a few chunks are done.
	cmd := exec.Command(testenv.Binary(t), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var firstOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &firstOut, &firstOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		select {
		case err := <-exited:
			t.Fatalf("backfill finished (%v) before it could be killed; make the table bigger\n%s", err, firstOut.String())
		case <-time.After(100 * time.Millisecond):
		}
		done := 0
		rows, err := tryProgressRows(t, client, jobID, "big")
		if err != nil && !strings.Contains(err.Error(), "Table not found") {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.status == checkpoint.StatusDone {
				done++
			}
		}
		if done >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no chunk done after 3 minutes\n%s", firstOut.String())
		}
	}
	// A second run of the same job while the first runs: refused.
	_, errOut, code := runCLI(t, nil, args...)
	if code != 2 || !strings.Contains(errOut, "job "+jobID+" is already running: run ") || !strings.Contains(errOut, " since ") {
		t.Fatalf("second run of a running job: exit %d, want 2 naming the holder\n%s", code, errOut)
	}
	// The whole process group: the CLI and anything it started.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	for deadline := time.Now().Add(20 * time.Second); ; {
		out, _, _ := runCLI(t, nil, "status", "--spec", specPath, "--job", jobID, "--lease-timeout", "3s")
		if strings.Contains(out, "job "+jobID+": stale") && strings.Contains(lineOf(out, "big"), "stale") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the killed job stale:\n%s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}

	before := progressRows(t, client, jobID, "big")
	var doneBefore, doneRows, planned int64
	for _, r := range before {
		if r.status == checkpoint.StatusDone {
			doneBefore++
			doneRows += r.rows
		}
	}
	planned = int64(len(before))
	if planned != rows/chunkRows || doneBefore == 0 || doneBefore == planned {
		t.Fatalf("after the kill: %d of %d chunks done; want some but not all of %d", doneBefore, planned, rows/chunkRows)
	}
	partial, err := countTarget(t, client, "Big")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed with %d/%d chunks done (%d rows), %d rows in the target", doneBefore, planned, doneRows, partial)

	// Second run, same job id.
	report := filepath.Join(t.TempDir(), "report.json")
	out, errOut, code := runCLI(t, nil, append(args, "--report-json", report)...)
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "taking over the job") {
		t.Fatalf("the rerun does not say it took over the stale job:\n%s", errOut)
	}
	rep := readReport(t, report)
	tr := rep.Tables[0]
	if tr.RowsRead != rows-doneRows || tr.RowsRead >= rows {
		t.Fatalf("rerun read %d rows; the unfinished chunks hold %d (table %d)", tr.RowsRead, rows-doneRows, rows)
	}
	if tr.Chunks != planned-doneBefore {
		t.Fatalf("rerun copied %d chunks, %d were unfinished", tr.Chunks, planned-doneBefore)
	}
	if rep.JobID != jobID || tr.SourceRows != rows || tr.TargetRows != rows || !tr.CountsEqual {
		t.Fatalf("report: %+v", rep)
	}
	sameRows(t, e.MySQL, client)

	after := progressRows(t, client, jobID, "big")
	for _, r := range after {
		if r.status != checkpoint.StatusDone {
			t.Fatalf("chunk %d is %s after the rerun", r.id, r.status)
		}
	}
	t.Logf("rerun read %d rows in %d chunks; at most %d chunks ran at once", tr.RowsRead, tr.Chunks, maxOverlap(after))

	// status reads the same table.
	out, errOut, code = runCLI(t, nil, "status", "--spec", specPath, "--job", jobID)
	if code != 0 {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errOut)
	}
	if f := strings.Fields(lineOf(out, "big")); len(f) < 6 || f[1] != fmt.Sprint(planned) || f[2] != fmt.Sprint(planned) ||
		f[3] != "0" || f[4] != fmt.Sprint(rows) || f[5] != fmt.Sprint(rows) || f[len(f)-1] != "done" {
		t.Fatalf("status line for big: %q\n%s", lineOf(out, "big"), out)
	}
	if _, errOut, code := runCLI(t, nil, "status", "--spec", specPath, "--job", "nosuchjob"); code != 2 || !strings.Contains(errOut, "no progress") {
		t.Fatalf("status of an unknown job: exit %d, %s", code, errOut)
	}
}

func lineOf(out, first string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == first {
			return l
		}
	}
	return ""
}

func countTarget(t *testing.T, client *spanner.Client, table string) (int64, error) {
	it := client.Single().Query(testenv.Context(t), spanner.Statement{SQL: "SELECT COUNT(*) FROM " + table})
	defer it.Stop()
	r, err := it.Next()
	if err != nil {
		return 0, err
	}
	var n int64
	return n, r.Columns(&n)
}

// sameRows compares big in MySQL with Big in Spanner row by row.
func sameRows(t *testing.T, my *sql.DB, client *spanner.Client) {
	t.Helper()
	rows, err := my.Query("SELECT id, name, v FROM big ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	// A read returns rows in key order without a sort on the emulator.
	it := client.Single().Read(testenv.Context(t), "Big", spanner.AllKeys(), []string{"id", "name", "v"})
	defer it.Stop()
	n := 0
	for rows.Next() {
		var id, v int64
		var name string
		if err := rows.Scan(&id, &name, &v); err != nil {
			t.Fatal(err)
		}
		r, err := it.Next()
		if err != nil {
			t.Fatalf("Spanner ends before MySQL id %d: %v", id, err)
		}
		var sid, sv int64
		var sname string
		if err := r.Columns(&sid, &sname, &sv); err != nil {
			t.Fatal(err)
		}
		if sid != id || sname != name || sv != v {
			t.Fatalf("row %d: MySQL (%d, %q, %d), Spanner (%d, %q, %d)", n, id, name, v, sid, sname, sv)
		}
		n++
	}
	if _, err := it.Next(); err != iterator.Done {
		t.Fatalf("Spanner has more rows than MySQL (%d): %v", n, err)
	}
}
