package ratelimit_test

// Integration tests on the real MariaDB (and the Spanner emulator for the
// worker registry) of the local stack. They drive the gate from a small
// reader loop that reads keyset pages of a big table the way the engine
// does: Acquire, then take a pooled connection, read the page, put the
// connection back, release.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/ratelimit"
	"github.com/livemigrate/livemigrate/target"
)

const bigRows = 100_000

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// openDB opens a pool of its own to the test's MySQL database.
func openDB(t testing.TB, addr, user, pw, name string, conns int) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = user, pw, "tcp", addr, name
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	t.Cleanup(func() { db.Close() })
	return db
}

func createBig(t *testing.T, e *testenv.Env) {
	e.Exec(t, `CREATE TABLE big (id BIGINT PRIMARY KEY, a INT NOT NULL, b VARCHAR(100) NOT NULL, c DOUBLE NOT NULL)`,
		fmt.Sprintf(`INSERT INTO big SELECT seq, seq %% 1000, REPEAT(CHAR(65 + seq %% 26), 80), seq * 1.5 FROM seq_1_to_%d`, bigRows))
}

// page is one admitted query as a reader saw it.
type page struct {
	Start, End int64 // unix nanos: Acquire returned, release called
	Rows       int
}

// readPages runs readers goroutines, each walking the table in keyset pages
// through gate until stopAt, and returns every page.
func readPages(ctx context.Context, db *sql.DB, gate ratelimit.Gate, selectList string, pageRows, readers int, stopAt time.Time) ([]page, error) {
	var mu sync.Mutex
	var out []page
	var firstErr error
	var wg sync.WaitGroup
	q := "SELECT " + selectList + " FROM big WHERE id > ? ORDER BY id LIMIT ?"
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func(cursor int64) {
			defer wg.Done()
			for time.Now().Before(stopAt) && ctx.Err() == nil {
				release, err := gate.Acquire(ctx, ratelimit.Page, pageRows)
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
					return
				}
				start := time.Now()
				n, last, err := readPage(ctx, db, q, cursor, pageRows)
				end := time.Now()
				release(n)
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
					return
				}
				mu.Lock()
				out = append(out, page{start.UnixNano(), end.UnixNano(), n})
				mu.Unlock()
				cursor = last
				if n < pageRows {
					cursor = 0 // wrap around
				}
			}
		}(int64(r * bigRows / readers))
	}
	wg.Wait()
	return out, firstErr
}

func readPage(ctx context.Context, db *sql.DB, q string, cursor int64, limit int) (n int, last int64, err error) {
	rs, err := db.QueryContext(ctx, q, cursor, limit)
	if err != nil {
		return 0, 0, err
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			return n, last, err
		}
		last, _ = strconv.ParseInt(string(vals[0]), 10, 64)
		n++
	}
	return n, last, rs.Err()
}

// mysqldCPU reads the server's CPU seconds from /proc, independently of the
// package (the server runs on this host in the local stack).
type mysqldCPU struct {
	t   *testing.T
	pid int
}

func serverProcess(t *testing.T, db *sql.DB) mysqldCPU {
	var f, dir string
	if err := db.QueryRow("SELECT @@pid_file, @@datadir").Scan(&f, &dir); err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(f) {
		f = filepath.Join(dir, f)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatalf("the stack's MariaDB must run on this host: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return mysqldCPU{t, pid}
}

func (m mysqldCPU) seconds() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", m.pid))
	if err != nil {
		m.t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}

// measure runs f and returns mysqld's average CPU over it, in % of one core.
func (m mysqldCPU) measure(f func()) float64 {
	t0, c0 := time.Now(), m.seconds()
	f()
	return 100 * (m.seconds() - c0) / time.Since(t0).Seconds()
}

func sumRows(ps []page, from, to int64) int {
	n := 0
	for _, p := range ps {
		if p.Start >= from && p.Start < to {
			n += p.Rows
		}
	}
	return n
}

// TestThrottleOnMariaDB is the integration suite; its parts share one
// database with one big table.
func TestThrottleOnMariaDB(t *testing.T) {
	if os.Getenv(workerEnv) != "" {
		t.Skip("worker process")
	}
	e := testenv.New(t)
	createBig(t, e)
	pw := e.Password(t)
	probeDB := openDB(t, e.MySQLAddr, e.MySQLUser, pw, e.Name, 2)
	ctx := testenv.Context(t)

	t.Run("probes", func(t *testing.T) {
		cfg := ratelimit.Config{
			SampleInterval: ratelimit.Duration(200 * time.Millisecond),
			CPU:            &ratelimit.CPUProbe{Proc: &ratelimit.ProcCPU{}}, // the server's own @@pid_file
			ThreadsRunning: &ratelimit.ThreadsRunningProbe{},
			HistoryList:    &ratelimit.HistoryListProbe{},
			Latency:        &ratelimit.LatencyProbe{},
			ReplicaLag:     &ratelimit.ReplicaLagProbe{}, // the source itself: not a replica
			Custom: []ratelimit.CustomProbe{
				{Name: "answer", Query: "SELECT 42", Max: 100},
				{Name: "big_rows", Query: "SELECT COUNT(*) FROM big WHERE id <= 10", Max: 100},
				{Name: "two_columns", Query: "SELECT 1, 2", Max: 10},
			},
		}
		th, err := ratelimit.New(ctx, cfg, ratelimit.Env{DB: probeDB, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer th.Close()
		var st ratelimit.Status
		deadline := time.Now().Add(10 * time.Second)
		for {
			st = th.Status()
			ready := len(st.Probes) == 8
			for _, p := range st.Probes {
				ready = ready && p.Level != "warming"
			}
			if ready {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("probes not read within 10s: %+v", st.Probes)
			}
			time.Sleep(50 * time.Millisecond)
		}
		got := map[string]ratelimit.ProbeStatus{}
		for _, p := range st.Probes {
			got[p.Name] = p
			t.Logf("%-20s %-8s %s %s", p.Name, p.Level, p.Text(), p.Error)
		}
		check := func(name string, ok bool, what string) {
			t.Helper()
			if !ok {
				t.Errorf("%s: %+v, want %s", name, got[name], what)
			}
		}
		check("cpu", got["cpu"].Error == "" && got["cpu"].Value >= 0 && got["cpu"].Unit == "%", "a reading in %")
		check("threads_running", got["threads_running"].Error == "" && got["threads_running"].Value < 25, "a reading below 25")
		check("history_list_length", got["history_list_length"].Error == "" && got["history_list_length"].Value >= 0, "a reading")
		check("latency", got["latency"].Error == "" && got["latency"].Value > 0 && got["latency"].Value < 500 && got["latency"].Unit == "ms", "a latency in ms")
		check("answer", got["answer"].Value == 42 && got["answer"].Error == "", "42")
		check("big_rows", got["big_rows"].Value == 10, "10")
		check("two_columns", got["two_columns"].Level == "error" && strings.Contains(got["two_columns"].Error, "returns 2 columns"), "an error: 2 columns")
		check("replica_lag", got["replica_lag"].Level == "error" && strings.Contains(got["replica_lag"].Error, "source: not a replica (SHOW REPLICA STATUS returned no rows)"), "not a replica")
		if st.State != ratelimit.Throttled || !strings.Contains(st.Reason, "unreadable") {
			t.Errorf("with unreadable probes the gate is %s (%s), want throttled", st.State, st.Reason)
		}

		// A replica listed by DSN (no password) is opened through Env.Connect.
		connected := ""
		th2, err := ratelimit.New(ctx, ratelimit.Config{SampleInterval: ratelimit.Duration(100 * time.Millisecond),
			ReplicaLag: &ratelimit.ReplicaLagProbe{Replicas: []string{fmt.Sprintf("%s@tcp(%s)/", e.MySQLUser, e.MySQLAddr)}}},
			ratelimit.Env{Logger: quiet, Connect: func(_ context.Context, dsn string) (*sql.DB, error) {
				cfg, err := mysql.ParseDSN(dsn)
				if err != nil {
					return nil, err
				}
				connected = cfg.Addr
				cfg.Passwd = pw
				return sql.Open("mysql", cfg.FormatDSN())
			}})
		if err != nil {
			t.Fatal(err)
		}
		defer th2.Close()
		waitStatus(t, th2, func(s ratelimit.Status) bool { return len(s.Probes) == 1 })
		p := th2.Status().Probes[0]
		if connected != e.MySQLAddr || !strings.Contains(p.Error, e.MySQLAddr+": not a replica") {
			t.Errorf("replica by DSN: connected %q, probe %+v", connected, p)
		}
	})

	t.Run("cpu target", func(t *testing.T) { cpuTarget(t, e, probeDB, 5*time.Second, 4*time.Second, 10*time.Second) })

	t.Run("load pauses and recovers", func(t *testing.T) {
		// A second client runs many concurrent queries: Threads_running
		// goes above critical, the backfill pauses within 2 s, and resumes
		// within 2 s after the load stops.
		th, err := ratelimit.New(ctx, ratelimit.Config{ThreadsRunning: &ratelimit.ThreadsRunningProbe{Max: 4, Critical: 8}},
			ratelimit.Env{DB: probeDB, Logger: logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer th.Close()
		db := openDB(t, e.MySQLAddr, e.MySQLUser, pw, e.Name, 2)
		load := openDB(t, e.MySQLAddr, e.MySQLUser, pw, e.Name, 12)
		stop := time.Now().Add(9 * time.Second)
		var pages []page
		var readErr error
		done := make(chan struct{})
		go func() {
			pages, readErr = readPages(ctx, db, th, "id, a, b, c", 500, 1, stop)
			close(done)
		}()
		time.Sleep(2 * time.Second)
		loadStart := time.Now()
		var lwg sync.WaitGroup
		for i := 0; i < 12; i++ {
			lwg.Add(1)
			go func() {
				defer lwg.Done()
				load.ExecContext(ctx, "SELECT SLEEP(3)")
			}()
		}
		var pausedAt, resumedAt time.Time // the gate's own times (Status.Since)
		loadDone := make(chan struct{})
		go func() { lwg.Wait(); close(loadDone) }()
		var loadEnd time.Time
		for time.Now().Before(stop) {
			st := th.Status()
			if pausedAt.IsZero() && st.State == ratelimit.Paused {
				pausedAt = st.Since
				t.Logf("paused %v after the load began: %s", pausedAt.Sub(loadStart).Round(time.Millisecond), st)
			}
			if !pausedAt.IsZero() && resumedAt.IsZero() && st.State != ratelimit.Paused {
				resumedAt = st.Since
				t.Logf("resumed %v after the load began: %s", resumedAt.Sub(loadStart).Round(time.Millisecond), st)
			}
			select {
			case <-loadDone:
				if loadEnd.IsZero() {
					loadEnd = time.Now()
				}
			default:
			}
			time.Sleep(20 * time.Millisecond)
		}
		<-done
		if readErr != nil {
			t.Fatal(readErr)
		}
		st := th.Status()
		t.Logf("final: %s", st)
		if pausedAt.IsZero() {
			t.Fatalf("never paused under the load: %s", st)
		}
		if pausedAt.Sub(loadStart) > 2*time.Second {
			t.Fatalf("paused %v after the load began, want within 2s", pausedAt.Sub(loadStart))
		}
		if resumedAt.IsZero() || resumedAt.Sub(loadEnd) > 2*time.Second {
			t.Fatalf("not resumed within 2s of the load's end (load ended %v, resumed %v)", loadEnd.Sub(loadStart), resumedAt.Sub(loadStart))
		}
		// While paused nothing was admitted. (A page's start is taken just
		// after Acquire returns: allow for scheduling delay.)
		if n := sumRows(pages, pausedAt.Add(100*time.Millisecond).UnixNano(), resumedAt.UnixNano()); n != 0 {
			t.Errorf("%d rows admitted while paused", n)
		}
		if n := sumRows(pages, resumedAt.UnixNano(), stop.UnixNano()); n == 0 {
			t.Errorf("no rows read after resuming")
		}
		if d := resumedAt.Sub(pausedAt); st.PausedFor < d-50*time.Millisecond || st.PausedFor > d+50*time.Millisecond {
			t.Errorf("status shows %v paused; the pause lasted about %v", st.PausedFor, resumedAt.Sub(pausedAt))
		}
	})

	t.Run("budgets", func(t *testing.T) {
		t.Run("one worker", func(t *testing.T) {
			t.Parallel()
			const budget, cap = 8000, 2
			th, err := ratelimit.New(ctx, ratelimit.Config{RowsPerSecond: budget, MaxConnections: cap}, ratelimit.Env{Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer th.Close()
			db := openDB(t, e.MySQLAddr, e.MySQLUser, pw, e.Name, 4)
			start := time.Now()
			pages, err := readPages(ctx, db, th, "id, a, b, c", 200, 4, start.Add(11*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			from := start.Add(time.Second)
			n := sumRows(pages, from.UnixNano(), from.Add(10*time.Second).UnixNano())
			t.Logf("one worker: %d rows in 10s (budget %d rows/s); max %d concurrent", n, budget, maxConcurrent(pages))
			if math.Abs(float64(n)-budget*10) > budget*10*0.1 {
				t.Errorf("read %d rows in 10s, want %d ± 10 %%", n, budget*10)
			}
			if c := maxConcurrent(pages); c > cap {
				t.Errorf("%d queries at once, cap %d", c, cap)
			}
		})
		t.Run("three worker processes", func(t *testing.T) {
			t.Parallel()
			workerProcesses(t, e, 3, 9000, 4, 10*time.Second)
		})
	})
}

// cpuTarget: mysqld's CPU, in % of one core, read from /proc here (not
// through the package), while four readers scan the table: first without the
// throttle, then with a CPU target on mysqld (the /proc probe, found through
// the server's own @@pid_file). The machine is shared and has two cores, so
// mysqld's unthrottled share varies with whatever else runs: the target is
// half of what it got unthrottled, at most 35 %, and the throttled average
// must stay under target + 10 points once the controller has settled
// (settleFor) — which is below the unthrottled average, so the throttle
// did it.
func cpuTarget(t *testing.T, e *testenv.Env, probeDB *sql.DB, freeFor, settleFor, throttledFor time.Duration) {
	ctx := testenv.Context(t)
	pw := e.Password(t)
	const sel = "id, SHA2(REPEAT(b, 4), 256), a, c" // server-side work per row, as conversions (col+0, ST_AsText) do
	const readers = 4
	srv := serverProcess(t, probeDB)
	db := openDB(t, e.MySQLAddr, e.MySQLUser, pw, e.Name, readers)
	var free, throttled []page
	freeCPU := srv.measure(func() {
		var err error
		free, err = readPages(ctx, db, ratelimit.Unlimited{}, sel, 500, readers, time.Now().Add(freeFor))
		if err != nil {
			t.Fatal(err)
		}
	})
	freeRows := sumRows(free, 0, math.MaxInt64) / int(freeFor.Seconds())
	t.Logf("without throttle: mysqld %.0f %% of a core, %d rows/s", freeCPU, freeRows)
	if freeCPU < 20 {
		t.Skipf("the machine is too busy to show the throttle's effect: unthrottled mysqld got only %.0f %% of a core (load from other processes)", freeCPU)
	}
	target := math.Min(35, math.Floor(freeCPU/2))
	th, err := ratelimit.New(ctx, ratelimit.Config{
		CPU: &ratelimit.CPUProbe{Max: target, Critical: 400, Proc: &ratelimit.ProcCPU{}},
	}, ratelimit.Env{DB: probeDB, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	// The controller starts at the unthrottled rate and cuts it step by
	// step; what is checked is the rate it holds once it has settled (how
	// fast it reacts is the pause test's). Without this, the first seconds'
	// overshoot decided the average whenever other tests loaded mysqld.
	if _, err := readPages(ctx, db, th, sel, 500, readers, time.Now().Add(settleFor)); err != nil {
		t.Fatal(err)
	}
	thrCPU := srv.measure(func() {
		var err error
		throttled, err = readPages(ctx, db, th, sel, 500, readers, time.Now().Add(throttledFor))
		if err != nil {
			t.Fatal(err)
		}
	})
	st := th.Status()
	t.Logf("target %.0f %%: mysqld %.0f %% of a core, %d rows/s; %s", target, thrCPU, sumRows(throttled, 0, math.MaxInt64)/int(throttledFor.Seconds()), st)
	if thrCPU > target+10 {
		t.Errorf("with a %.0f %% target mysqld averaged %.0f %% (more than target + 10); unthrottled %.0f %%", target, thrCPU, freeCPU)
	}
	if st.ThrottledFor < 2*time.Second || st.Probes[0].Name != "cpu" {
		t.Errorf("status %s: the throttle hardly acted", st)
	}
}

func waitStatus(t *testing.T, th *ratelimit.Throttle, cond func(ratelimit.Status) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(th.Status()) {
		if time.Now().After(deadline) {
			t.Fatalf("status not reached within 10s: %s", th.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// maxConcurrent sweeps the pages' intervals and returns the most that
// overlapped.
func maxConcurrent(ps []page) int {
	type ev struct {
		t int64
		d int
	}
	evs := make([]ev, 0, 2*len(ps))
	for _, p := range ps {
		evs = append(evs, ev{p.Start, 1}, ev{p.End, -1})
	}
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].t != evs[j].t {
			return evs[i].t < evs[j].t
		}
		return evs[i].d < evs[j].d // a release before an acquire at the same instant
	})
	cur, best := 0, 0
	for _, e := range evs {
		cur += e.d
		best = max(best, cur)
	}
	return best
}

// The worker-process tests re-execute this test binary as workers.
const workerEnv = "LM_THROTTLE_WORKER"

type workerJob struct {
	MySQLDB, SpannerDB, Job, Worker, Out string
	Rows                                 float64
	Conns, PageRows, Readers             int
	StopAt                               int64
}

type workerOut struct {
	Pages  []page
	Status ratelimit.Status
}

// workerProcesses runs n worker processes sharing a rows/s budget and a
// connection cap through the Spanner registry, and checks the combined
// rate over a window once all have joined, and the cap over the whole run.
func workerProcesses(t *testing.T, e *testenv.Env, n int, budget float64, cap int, window time.Duration) {
	ctx := testenv.Context(t)
	runFor := window + 7*time.Second
	if err := checkpoint.EnsureWorkers(ctx, e.SpannerDB); err != nil {
		t.Fatal(err)
	}
	stopAt := time.Now().Add(runFor)
	dir := t.TempDir()
	var cmds []*exec.Cmd
	var outs []string
	for i := 0; i < n; i++ {
		job := workerJob{MySQLDB: e.Name, SpannerDB: e.SpannerDB, Job: "budget-test", Worker: fmt.Sprintf("w%d", i),
			Out: filepath.Join(dir, fmt.Sprintf("w%d.json", i)), Rows: budget, Conns: cap, PageRows: 200, Readers: 4, StopAt: stopAt.UnixNano()}
		b, _ := json.Marshal(job)
		cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), workerEnv+"="+string(b))
		var logs strings.Builder
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("worker %s:\n%s", job.Worker, logs.String())
			}
		})
		cmds = append(cmds, cmd)
		outs = append(outs, job.Out)
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
	}
	var all []page
	var firsts []int64
	conns := 0
	for _, f := range outs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var o workerOut
		if err := json.Unmarshal(b, &o); err != nil {
			t.Fatal(err)
		}
		if len(o.Pages) == 0 {
			t.Fatalf("%s read nothing", f)
		}
		sort.Slice(o.Pages, func(i, j int) bool { return o.Pages[i].Start < o.Pages[j].Start })
		firsts = append(firsts, o.Pages[0].Start)
		all = append(all, o.Pages...)
		conns += o.Status.Share.Connections
		t.Logf("%s: first page after %v; %s", filepath.Base(f), time.Duration(o.Pages[0].Start-(stopAt.UnixNano()-int64(runFor))).Round(time.Millisecond), o.Status)
		if o.Status.Workers != n || o.Status.Share.RowsPerSecond != budget/float64(n) {
			t.Errorf("%s: workers %d share %+v", f, o.Status.Workers, o.Status.Share)
		}
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	last := firsts[len(firsts)-1]
	from := time.Unix(0, last).Add(time.Second)
	to := from.Add(window)
	if to.After(stopAt) {
		t.Fatalf("workers started too late for a %v window (last started %v before the stop)", window, stopAt.Sub(time.Unix(0, last)))
	}
	got, want := float64(sumRows(all, from.UnixNano(), to.UnixNano())), budget*window.Seconds()
	t.Logf("%d processes: %.0f rows in %v (budget %.0f rows/s); max %d concurrent over the whole run, shares add up to %d", n, got, window, budget, maxConcurrent(all), conns)
	if math.Abs(got-want) > want*0.1 {
		t.Errorf("read %.0f rows in %v, want %.0f ± 10 %%", got, window, want)
	}
	if c := maxConcurrent(all); c > cap {
		t.Errorf("%d queries at once over the %d processes, job-wide cap %d", c, n, cap)
	}
	if conns != cap {
		t.Errorf("connection shares add up to %d, want the cap %d", conns, cap)
	}
}

// TestWorkerProcess is one worker of workerProcesses (skipped otherwise): it
// reads through its own Throttle, sharing the budget through the Spanner
// registry, and writes what it read to a file.
func TestWorkerProcess(t *testing.T) {
	spec := os.Getenv(workerEnv)
	if spec == "" {
		t.Skip("only as a worker of the three-process test")
	}
	var job workerJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		t.Fatal(err)
	}
	s := testenv.Load(t)
	ctx := context.Background()
	c, err := target.Client(ctx, job.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	th, err := ratelimit.New(ctx, ratelimit.Config{RowsPerSecond: job.Rows, MaxConnections: job.Conns},
		ratelimit.Env{Registry: checkpoint.NewWorkerRegistry(c), Job: job.Job, Worker: job.Worker, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t, s.MySQLAddr, s.MySQLUser, s.Password(t), job.MySQLDB, job.Readers)
	var inflight, peak atomic.Int32
	gate := gateFunc(func(ctx context.Context, k ratelimit.Kind, rows int) (func(int), error) {
		rel, err := th.Acquire(ctx, k, rows)
		if err != nil {
			return nil, err
		}
		if n := inflight.Add(1); n > peak.Load() {
			peak.Store(n)
		}
		return func(n int) { inflight.Add(-1); rel(n) }, nil
	})
	// The status reported is taken 2s before the stop, while every worker
	// still runs (at the end some have already left).
	stopAt := time.Unix(0, job.StopAt)
	stc := make(chan ratelimit.Status, 1)
	go func() {
		time.Sleep(time.Until(stopAt.Add(-2 * time.Second)))
		stc <- th.Status()
	}()
	pages, err := readPages(ctx, db, gate, "id, a, b, c", job.PageRows, job.Readers, stopAt)
	if err != nil {
		t.Fatal(err)
	}
	st := <-stc
	th.Close()
	t.Logf("peak %d in flight (share %d)", peak.Load(), st.Share.Connections)
	b, _ := json.Marshal(workerOut{Pages: pages, Status: st})
	if err := os.WriteFile(job.Out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

type gateFunc func(ctx context.Context, k ratelimit.Kind, rows int) (func(int), error)

func (f gateFunc) Acquire(ctx context.Context, k ratelimit.Kind, rows int) (func(int), error) {
	return f(ctx, k, rows)
}
