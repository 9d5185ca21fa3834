package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/spanner"
	"github.com/creack/pty"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/target"
)

// proc is a running CLI whose stderr lines are captured as they arrive.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string
	at     []time.Time
	stdout bytes.Buffer
	done   chan struct{}
	code   int
}

func startCLI(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(testenv.Binary(t), args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = &p.stdout
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(errPipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines, p.at = append(p.lines, sc.Text()), append(p.at, time.Now())
			p.mu.Unlock()
		}
		err := p.cmd.Wait()
		p.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}

func (p *proc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// count counts stderr lines containing s.
func (p *proc) count(s string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		t.Fatalf("still running after %s; killed\nstderr:\n%s", timeout, p.stderr())
		return 0
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// until polls cond every 100ms until it holds; it fails the test when the
// process exits first or timeout passes.
func (p *proc) until(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if p.exited() {
			t.Fatalf("exited (code %d) before %s\nstderr:\n%s", p.code, what, p.stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s\nstderr:\n%s", what, timeout, p.stderr())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// jobProgress sums a job's progress over its tables (zero before the plan
// is stored).
func jobProgress(t *testing.T, client *spanner.Client, jobID string) (done, rows int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	prog, err := checkpoint.Status(ctx, client, jobID)
	if err != nil {
		return 0, 0
	}
	for _, p := range prog {
		done += p.Done
		rows += p.RowsRead
	}
	return done, rows
}

// loadBig fills big with n rows (id 3, 6, 9, ...).
func loadBig(t *testing.T, e *testenv.Env, n int) {
	e.Exec(t, "CREATE TABLE big (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL, v INT)",
		fmt.Sprintf("INSERT INTO big SELECT seq * 3, CONCAT('name-', seq, REPEAT('x', seq %% 20)), seq FROM seq_1_to_%d", n),
		"ANALYZE TABLE big")
}

func planApply(t *testing.T, specPath string) {
	t.Helper()
	if out, errOut, code := runCLI(t, nil, "plan", "--spec", specPath, "--apply"); code != 0 {
		t.Fatalf("plan --apply: exit %d\n%s\n%s", code, out, errOut)
	}
}

func spannerClient(t *testing.T, db string) *spanner.Client {
	t.Helper()
	c, err := spanner.NewClient(testenv.Context(t), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// slowCopy are flags that make a few 10k rows take long enough to act on
// mid-run: small commits, small pages and chunks.
var slowCopy = []string{"--batch-rows", "100", "--page-rows", "500", "--chunk-rows", "4000"}

// TestInterruptAndResume: SIGINT mid-run stops after the in-flight pages,
// marks the job interrupted, prints the resume command and exits 130;
// the printed command resumes the job, which ends with every row equal.
// Without a terminal the run prints progress lines while it runs.
func TestInterruptAndResume(t *testing.T) {
	const rows = 60000
	e := testenv.New(t)
	loadBig(t, e, rows)
	specPath := e.SpecYAML(t, "  - source: big\n    target: Big\n")
	planApply(t, specPath)
	client := spannerClient(t, e.SpannerDB)
	const jobID = "interrupt-1"
	args := append([]string{"backfill", "--spec", specPath, "--job", jobID, "--progress-interval", "1s",
		"--dead-letter", filepath.Join(t.TempDir(), "dl")}, slowCopy...)
	p := startCLI(t, nil, args...)
	p.until(t, 2*time.Minute, "rows copied", func() bool { _, r := jobProgress(t, client, jobID); return r > 0 })
	p.until(t, 30*time.Second, "progress lines", func() bool { return p.count("msg=progress table=big") >= 2 })
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, time.Minute); code != 130 {
		t.Fatalf("exit %d after SIGINT, want 130\n%s", code, p.stderr())
	}
	m := regexp.MustCompile(`resume it with:\n  (.+)`).FindStringSubmatch(p.stderr())
	if m == nil {
		t.Fatalf("no resume command printed:\n%s", p.stderr())
	}
	resume := strings.Fields(m[1])
	if resume[0] != testenv.Binary(t) || !strings.Contains(m[1], "--job "+jobID) || !strings.Contains(m[1], "--batch-rows 100") {
		t.Fatalf("resume command %q: want the same binary and flags with --job %s", m[1], jobID)
	}
	done, copied := jobProgress(t, client, jobID)
	if copied >= rows {
		t.Fatalf("the interrupted run copied everything (%d rows); interrupt earlier", copied)
	}
	out, errOut, code := runCLI(t, nil, "status", "--spec", specPath, "--job", jobID)
	if code != 0 || !strings.Contains(out, "job "+jobID+": interrupted") || !strings.Contains(out, "resume: livemigrate backfill") ||
		!strings.Contains(lineOf(out, "big"), "interrupted") {
		t.Fatalf("status after the interrupt: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("interrupted with %d chunks done, %d rows copied; status:\n%s", done, copied, out)

	rp := startCLI(t, nil, resume[1:]...)
	if code := rp.wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("resume: exit %d\n%s\n%s", code, rp.stdout.String(), rp.stderr())
	}
	if !strings.Contains(rp.stderr(), "resuming the job") {
		t.Fatalf("the resumed run does not say it resumes:\n%s", rp.stderr())
	}
	sameRows(t, e.MySQL, client)
	if out, _, _ := runCLI(t, nil, "status", "--spec", specPath, "--job", jobID); !strings.Contains(out, "job "+jobID+": done") {
		t.Fatalf("status after the resume:\n%s", out)
	}
}

// TestSourceRestart: MariaDB stopped for ~3 s mid-run and started again;
// the job rides it out (one log line per retry, with the cause and the time
// left), completes with exit 0 and every row equals the source.
func TestSourceRestart(t *testing.T) {
	const rows = 60000
	my := testenv.PrivateMySQL(t)
	e := testenv.NewOn(t, my, nil)
	loadBig(t, e, rows)
	specPath := e.SpecYAML(t, "  - source: big\n    target: Big\n")
	planApply(t, specPath)
	client := spannerClient(t, e.SpannerDB)
	const jobID = "restart-1"
	args := append([]string{"backfill", "--spec", specPath, "--job", jobID, "--progress-interval", "2s", "--source-retry-window", "1m",
		"--dead-letter", filepath.Join(t.TempDir(), "dl")}, slowCopy...)
	p := startCLI(t, nil, args...)
	p.until(t, 2*time.Minute, "a chunk done", func() bool { d, _ := jobProgress(t, client, jobID); return d > 0 })
	my.Stop()
	stopped := time.Now()
	time.Sleep(3 * time.Second)
	my.Start()
	t.Logf("MariaDB down for %.1fs", time.Since(stopped).Seconds())
	if code := p.wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("exit %d after a MariaDB restart\n%s\n%s", code, p.stdout.String(), p.stderr())
	}
	if p.count(`msg="MySQL unavailable; retrying"`) == 0 || !regexp.MustCompile(`cause=.* left=\d`).MatchString(p.stderr()) {
		t.Fatalf("no retry was logged with its cause and time left:\n%s", p.stderr())
	}
	if n := p.count("msg=progress table=big"); n < 2 {
		t.Fatalf("%d progress lines during the run; want several:\n%s", n, p.stderr())
	}
	if !strings.Contains(p.stdout.String(), " yes") {
		t.Fatalf("counts do not match:\n%s", p.stdout.String())
	}
	sameRows(t, e.MySQL, client)
}

// TestTargetOutage: the emulator is stopped mid-run and stays down; with a
// 20 s target window the run ends with one clear line and exit 1, and it
// is never silent for longer than one attempt plus one backoff.
func TestTargetOutage(t *testing.T) {
	const rows = 60000
	sp := testenv.PrivateEmulator(t)
	e := testenv.NewOn(t, nil, sp)
	loadBig(t, e, rows)
	specPath := e.SpecYAML(t, "  - source: big\n    target: Big\n")
	planApply(t, specPath)
	client := spannerClient(t, e.SpannerDB)
	const jobID = "outage-1"
	args := append([]string{"backfill", "--spec", specPath, "--job", jobID, "--progress-interval", "2s", "--target-retry-window", "20s",
		"--dead-letter", filepath.Join(t.TempDir(), "dl")}, slowCopy...)
	p := startCLI(t, nil, args...)
	p.until(t, 2*time.Minute, "rows copied", func() bool { _, r := jobProgress(t, client, jobID); return r > 0 })
	sp.Stop()
	stopped := time.Now()
	code := p.wait(t, 2*time.Minute)
	t.Logf("exit %d %.1fs after the emulator stopped\n%s", code, time.Since(stopped).Seconds(), p.stderr())
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, p.stderr())
	}
	p.mu.Lock()
	lines, at := p.lines, p.at
	p.mu.Unlock()
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "livemigrate backfill: ") || !strings.Contains(last, "Spanner unavailable for") || !strings.Contains(last, "--target-retry-window 20s") {
		t.Fatalf("last line %q: want one line naming the outage and the window\n%s", last, p.stderr())
	}
	if n := p.count("level=ERROR"); n > 0 {
		t.Fatalf("%d ERROR records besides the one line:\n%s", n, p.stderr())
	}
	// Never silent: between the stop and the exit, no gap between two
	// lines of stderr is longer than the retry log interval — an attempt
	// (5 s) plus the longest wait (5 s) — with some slack for a loaded
	// machine.
	prev := stopped
	for i, a := range at {
		if a.Before(stopped) {
			continue
		}
		if gap := a.Sub(prev); gap > 14*time.Second {
			t.Fatalf("silent for %.1fs before %q\n%s", gap.Seconds(), lines[i], p.stderr())
		}
		prev = a
	}
	if p.count(`msg="Spanner unavailable; retrying"`) == 0 {
		t.Fatalf("no retry logged:\n%s", p.stderr())
	}
}

// TestPreflightRefuses: everything knowable before copying is checked
// first; each failure is exit 2 with one line, and the target has no
// progress table (or no progress rows) and no rows afterwards. A dry run
// on prism checks everything and writes nothing either.
func TestPreflightRefuses(t *testing.T) {
	ctx := testenv.Context(t)
	e := testenv.New(t)
	e.Exec(t, "CREATE TABLE products (id INT NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL, description TEXT)",
		"INSERT INTO products SELECT seq, CONCAT('p', seq), 'd' FROM seq_1_to_100")
	specPath := e.SpecYAML(t, "  - source: products\n")
	dir := t.TempDir()
	afile := filepath.Join(dir, "afile")
	os.WriteFile(afile, nil, 0o644)
	empty := func(t *testing.T) {
		t.Helper()
		tables, err := target.Tables(ctx, e.SpannerDB)
		if err != nil {
			t.Fatal(err)
		}
		if tables[checkpoint.Table] {
			if n, err := target.Count(ctx, e.SpannerDB, checkpoint.Table); err != nil || n != 0 {
				t.Fatalf("progress table holds %d rows (%v)", n, err)
			}
		}
		if tables["products"] {
			if n, err := target.Count(ctx, e.SpannerDB, "products"); err != nil || n != 0 {
				t.Fatalf("products holds %d rows (%v)", n, err)
			}
		}
	}
	refuse := func(t *testing.T, want string, args ...string) string {
		t.Helper()
		out, errOut, code := runCLI(t, nil, append([]string{"backfill", "--spec", specPath}, args...)...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], want) {
			t.Fatalf("exit %d, want 2 and one line containing %q\nstdout: %s\nstderr: %s", code, want, out, errOut)
		}
		empty(t)
		return lines[0]
	}

	// An incompatible target table, created by hand: no progress table
	// gets created, nothing is copied.
	if err := target.ApplyDDL(ctx, e.SpannerDB, []string{"CREATE TABLE products (id INT64 NOT NULL, name STRING(40) NOT NULL) PRIMARY KEY (id)"}); err != nil {
		t.Fatal(err)
	}
	line := refuse(t, "table products, column description: column does not exist in Spanner")
	if !strings.Contains(line, "columns.exclude") || !strings.Contains(line, "--delta") {
		t.Fatalf("the line does not say the fix: %s", line)
	}
	if tables, _ := target.Tables(ctx, e.SpannerDB); tables[checkpoint.Table] {
		t.Fatalf("a refused backfill created %s", checkpoint.Table)
	}

	// A target whose progress table was created by an earlier version:
	// refused with the command that upgrades it; plan --apply adds the
	// missing columns.
	if err := target.ApplyDDL(ctx, e.SpannerDB, []string{"ALTER TABLE products ADD COLUMN description STRING(MAX)", oldProgressDDL}); err != nil {
		t.Fatal(err)
	}
	refuse(t, "plan --spec "+specPath+" --apply")
	planApply(t, specPath)

	for _, c := range []struct {
		name, want string
		args       []string
	}{
		{"unknown runner", `--runner "nonsense": use prism (local) or dataflow`, []string{"--runner", "nonsense"}},
		{"report path in a file", "--report-json " + afile + "/report.json: " + afile + " is not a directory", []string{"--report-json", afile + "/report.json"}},
		{"report path in a missing directory", "does not exist", []string{"--report-json", filepath.Join(dir, "nope", "report.json")}},
		{"unwritable dead-letter directory", "--dead-letter /proc/livemigrate-dl: cannot create files in /proc", []string{"--dead-letter", "/proc/livemigrate-dl"}},
		{"local dead letters on Dataflow", "on Dataflow use a gs://bucket/prefix", []string{"--runner", "dataflow", "--dead-letter", dir}},
		{"lease timeout below a second", "--lease-timeout is 10ms", []string{"--lease-timeout", "10ms"}},
		{"negative retry window", "--source-retry-window is -1s", []string{"--source-retry-window", "-1s"}},
	} {
		t.Run(c.name, func(t *testing.T) { refuse(t, c.want, c.args...) })
	}

	out, errOut, code := runCLI(t, nil, "backfill", "--spec", specPath, "--dry_run", "--dead-letter", filepath.Join(dir, "dl"))
	if code != 0 || !strings.Contains(errOut, "dry run: every check passed; nothing was written") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	empty(t)
	if _, err := os.Stat(filepath.Join(dir, "dl")); err == nil {
		t.Fatalf("the dry run created the dead-letter directory")
	}

	// After all that, the upgraded target takes a run.
	if out, errOut, code := runCLI(t, nil, "backfill", "--spec", specPath, "--dead-letter", filepath.Join(dir, "dl")); code != 0 || !strings.Contains(out, " yes") {
		t.Fatalf("backfill after plan --apply: exit %d\n%s\n%s", code, out, errOut)
	}
}

// oldProgressDDL is the progress table as the first version created it.
const oldProgressDDL = `CREATE TABLE livemigrate_progress (
  JobId STRING(128) NOT NULL,
  TableName STRING(256) NOT NULL,
  ChunkId INT64 NOT NULL,
  ChunkOf INT64 NOT NULL,
  KeyColumns STRING(MAX),
  LowerKey BYTES(MAX),
  UpperKey BYTES(MAX),
  Status STRING(16) NOT NULL,
  PlannedRows INT64 NOT NULL,
  RowsRead INT64,
  RowsWritten INT64,
  PlannedAt TIMESTAMP NOT NULL,
  StartedAt TIMESTAMP,
  DoneAt TIMESTAMP OPTIONS (allow_commit_timestamp = true),
) PRIMARY KEY (JobId, TableName, ChunkId)`

// TestProgressTerminal runs a backfill in a real pseudo-terminal: the live
// display (mpb bars) shows the table's state and its rows moving while the
// run goes on, and ends done; log lines print above it.
func TestProgressTerminal(t *testing.T) {
	const rows = 30000
	e := testenv.New(t)
	loadBig(t, e, rows)
	specPath := e.SpecYAML(t, "  - source: big\n    target: Big\n")
	planApply(t, specPath)
	cmd := exec.Command(testenv.Binary(t), append([]string{"backfill", "--spec", specPath, "--dead-letter", filepath.Join(t.TempDir(), "dl")}, slowCopy...)...)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 160})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() { io.Copy(&out, ptmx); close(copied) }()
	werr := make(chan error, 1)
	go func() { werr <- cmd.Wait() }()
	select {
	case err := <-werr:
		if err != nil {
			t.Fatalf("backfill in a terminal: %v\n%s", err, out.String())
		}
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("backfill in a terminal did not finish\n%s", out.String())
	}
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
	}
	text := out.String()
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`rows (\d+)/\d+`).FindAllStringSubmatch(text, -1) {
		seen[m[1]] = true
	}
	if len(seen) < 3 || !strings.Contains(text, "copying") || !strings.Contains(text, "done") || !strings.Contains(text, "\x1b[") {
		t.Fatalf("the terminal display did not update (%d distinct row counts):\n%q", len(seen), text)
	}
	if !strings.Contains(text, `msg="backfill started"`) || !strings.Contains(text, "backfill finished in") {
		t.Fatalf("log lines or the summary are missing from the terminal:\n%s", text)
	}
	t.Logf("%d distinct row counts shown", len(seen))
}
