package chaos

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
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

	"cloud.google.com/go/spanner"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/go-sql-driver/mysql"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/copier"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/job"
	"github.com/livemigrate/livemigrate/livewrite"
	"github.com/livemigrate/livemigrate/pipelines"
	"github.com/livemigrate/livemigrate/rowdiff"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/source"
	"github.com/livemigrate/livemigrate/target"
	"github.com/livemigrate/livemigrate/transforms"
)

// table is one table of the scenario. Keys are addressed by an ordinal n
// (1..rows initially, more as the live writer inserts) whose order is the
// key order.
type table struct {
	name   string
	create string
	load   string // fills ordinals 1..rows from seq_1_to_<rows>
	rows   int
	yaml   string
	key    func(n int) []any                          // key values, usable as MySQL args and as a Spanner key
	where  string                                     // "k1 = ? AND k2 = ?"
	values func(r *rand.Rand, n int, ver int64) []any // every column, for INSERT (key included)
	cols   string                                     // column list for INSERT
	set    string                                     // "c = ?, ..." for UPDATE of the non-key columns
	setIdx []int                                      // which values() entries SET uses
}

func tables(scale float64) []*table {
	na := int(90000 * scale)
	no := int(20000 * scale) // orders × 3 lines = 60,000
	ne := int(50000 * scale)
	day := func(n int) string {
		return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n%1500).Format("2006-01-02")
	}
	ts := func(r *rand.Rand) string {
		return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.Int63n(int64(400*24*time.Hour))) / 1000 * 1000).Format("2006-01-02 15:04:05.000000")
	}
	return []*table{
		{
			name: "accounts", rows: na,
			create: `CREATE TABLE accounts (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL, balance DECIMAL(14,2) NOT NULL,
				ver BIGINT NOT NULL, updated_at DATETIME(6) NOT NULL, note TEXT NULL)`,
			load: fmt.Sprintf(`INSERT INTO accounts SELECT seq, CONCAT('acct-', seq), seq * 1.25, seq,
				TIMESTAMP('2023-01-01') + INTERVAL seq SECOND, IF(seq %% 7 = 0, NULL, REPEAT('n', seq %% 40)) FROM seq_1_to_%d`, na),
			yaml:  "  - source: accounts\n    write_mode: version\n    version_column: ver\n",
			key:   func(n int) []any { return []any{int64(n)} },
			where: "id = ?",
			cols:  "id, name, balance, ver, updated_at, note",
			values: func(r *rand.Rand, n int, ver int64) []any {
				var note any
				if r.Intn(5) > 0 {
					note = strings.Repeat("u", r.Intn(60))
				}
				return []any{int64(n), fmt.Sprintf("live-%d-%d", n, r.Intn(1000)), fmt.Sprintf("%d.%02d", r.Intn(1e6), r.Intn(100)), ver, ts(r), note}
			},
			set: "name = ?, balance = ?, ver = ?, updated_at = ?, note = ?", setIdx: []int{1, 2, 3, 4, 5},
		},
		{
			name: "order_lines", rows: no * 3,
			create: `CREATE TABLE order_lines (order_id INT NOT NULL, line SMALLINT NOT NULL, sku VARCHAR(24) NOT NULL, qty INT NOT NULL,
				price DOUBLE NOT NULL, shipped TINYINT(1) NOT NULL, day DATE NULL, PRIMARY KEY (order_id, line))`,
			load: fmt.Sprintf(`INSERT INTO order_lines SELECT (seq - 1) DIV 3 + 1, (seq - 1) %% 3 + 1, CONCAT('sku-', seq %% 977), seq %% 13,
				seq / 7, seq %% 2, IF(seq %% 11 = 0, NULL, DATE('2020-01-01') + INTERVAL (seq %% 1500) DAY) FROM seq_1_to_%d`, no*3),
			yaml:  "  - source: order_lines\n",
			key:   func(n int) []any { return []any{int64((n-1)/3 + 1), int64((n-1)%3 + 1)} },
			where: "order_id = ? AND line = ?",
			cols:  "order_id, line, sku, qty, price, shipped, day",
			values: func(r *rand.Rand, n int, ver int64) []any {
				var d any
				if r.Intn(4) > 0 {
					d = day(r.Intn(5000))
				}
				return []any{int64((n-1)/3 + 1), int64((n-1)%3 + 1), fmt.Sprintf("sku-l%d", r.Intn(5000)), int64(r.Intn(100)), r.Float64() * 1000, int64(r.Intn(2)), d}
			},
			set: "sku = ?, qty = ?, price = ?, shipped = ?, day = ?", setIdx: []int{2, 3, 4, 5, 6},
		},
		{
			name: "events", rows: ne,
			create: `CREATE TABLE events (code VARCHAR(20) NOT NULL PRIMARY KEY, kind ENUM('click','view','buy') NOT NULL,
				payload VARBINARY(64) NULL, at DATETIME(6) NOT NULL)`,
			load: fmt.Sprintf(`INSERT INTO events SELECT CONCAT('ev-', LPAD(seq, 8, '0')), ELT(seq %% 3 + 1, 'click', 'view', 'buy'),
				IF(seq %% 5 = 0, NULL, UNHEX(SHA1(seq))), TIMESTAMP('2022-06-01') + INTERVAL seq * 3 SECOND FROM seq_1_to_%d`, ne),
			yaml:  "  - source: events\n",
			key:   func(n int) []any { return []any{fmt.Sprintf("ev-%08d", n)} },
			where: "code = ?",
			cols:  "code, kind, payload, at",
			values: func(r *rand.Rand, n int, ver int64) []any {
				var p any
				if r.Intn(4) > 0 {
					b := make([]byte, r.Intn(64))
					r.Read(b)
					p = b
				}
				return []any{fmt.Sprintf("ev-%08d", n), []string{"click", "view", "buy"}[r.Intn(3)], p, ts(r)}
			},
			set: "kind = ?, payload = ?, at = ?", setIdx: []int{1, 2, 3},
		},
	}
}

// scenario is one run.
type scenario struct {
	seed   int64
	blind  bool    // negative control: blind InsertOrUpdate backfill
	scale  float64 // 1 = 200,000 rows
	rerun  bool    // interrupt the job mid-run and resume it; afterwards re-run it as a new job and require an unchanged target
	faults bool    // the Spanner emulator injects faults (set up by the caller)
	rate   float64 // live operations per second
}

// result is what a run observed.
type result struct {
	diffs       map[string][]string // table → differing keys (described)
	ndiff       int
	rows        int
	ops         int64
	kills       int64
	readRetries int64
	counters    map[string]int64 // summed over tables
	elapsed     time.Duration
}

func (r *result) String() string {
	return fmt.Sprintf("rows %d, live ops %d, connections killed %d, read retries %d, written %d, skipped existing %d, newer %d, tombstoned %d, removed by re-validation %d, differences %d, %.1fs",
		r.rows, r.ops, r.kills, r.readRetries, r.counters[transforms.CRowsWritten], r.counters[transforms.CRowsSkipped],
		r.counters[transforms.CRowsNewer], r.counters[transforms.CRowsTombstoned], r.counters[transforms.CRowsRemoved], r.ndiff, r.elapsed.Seconds())
}

// env bundles what a run uses.
type run struct {
	t      testing.TB
	sc     scenario
	env    *testenv.Env
	tabs   []*table
	plans  map[string]*schema.TablePlan
	job    *job.Job
	client *spanner.Client
	live   *livewrite.Writer
	liveDB *sql.DB // no default database: invisible to the killer
	conv   map[string]*copier.Converter

	liveRetries atomic.Int64
}

func runScenario(t testing.TB, sc scenario) *result {
	t.Helper()
	start := time.Now()
	// End before the test binary's deadline, so cleanup still drops the
	// databases (the emulator holds at most 10 per instance).
	deadline := time.Now().Add(8 * time.Minute)
	if tt, ok := t.(*testing.T); ok {
		if d, ok := tt.Deadline(); ok && d.Add(-30*time.Second).Before(deadline) {
			deadline = d.Add(-30 * time.Second)
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	r := &run{t: t, sc: sc, env: newEnv(t), tabs: tables(sc.scale)}
	r.setup(ctx)
	res := &result{counters: map[string]int64{}}
	for _, tb := range r.tabs {
		res.rows += tb.rows
	}

	stopLive := make(chan struct{})
	liveDone := make(chan error, 1)
	frontier := newFrontier(r)
	go frontier.run(ctx, stopLive)
	var ops atomic.Int64
	go func() { liveDone <- r.liveWriter(ctx, rand.New(rand.NewSource(sc.seed)), frontier, stopLive, &ops) }()
	killerDone := make(chan int64, 1)
	go func() { killerDone <- r.killer(ctx, rand.New(rand.NewSource(sc.seed^0x5eed)), frontier, stopLive) }()

	t.Logf("seed %d: setup %.1fs", sc.seed, time.Since(start).Seconds())
	counters, err := r.backfillJob(ctx, fmt.Sprintf("chaos-%d", sc.seed), sc.rerun)
	t.Logf("seed %d: backfill done %.1fs", sc.seed, time.Since(start).Seconds())
	close(stopLive)
	liveErr := <-liveDone
	res.kills = <-killerDone
	if err != nil {
		t.Fatalf("seed %d: backfill failed: %v", sc.seed, err)
	}
	if liveErr != nil {
		t.Fatalf("seed %d: live writer: %v", sc.seed, liveErr)
	}
	res.ops = ops.Load()
	t.Logf("seed %d: live write retries %d", sc.seed, r.liveRetries.Load())
	for _, c := range counters {
		for k, v := range c {
			res.counters[k] += v
		}
	}
	res.readRetries = res.counters[transforms.CReadRetries]
	res.diffs, res.ndiff = r.compare(ctx)
	t.Logf("seed %d: compared %.1fs", sc.seed, time.Since(start).Seconds())

	if sc.rerun && res.ndiff == 0 {
		before := r.dumpAll(ctx)
		// A new job id: every chunk is copied again (the same id would
		// resume a finished job and copy nothing).
		counters, err := r.backfillJob(ctx, fmt.Sprintf("chaos-%d-rerun", sc.seed), false)
		if err != nil {
			t.Fatalf("seed %d: re-run failed: %v", sc.seed, err)
		}
		after := r.dumpAll(ctx)
		if d := diffDumps(before, after); len(d) > 0 {
			t.Errorf("seed %d: re-running the finished job changed the target: %s", sc.seed, strings.Join(d, "; "))
		}
		for tbl, c := range counters {
			if c[transforms.CRowsWritten] != 0 || c[transforms.CRowsRemoved] != 0 {
				t.Errorf("seed %d: re-run of %s wrote %d rows and removed %d; want 0 and 0", sc.seed, tbl, c[transforms.CRowsWritten], c[transforms.CRowsRemoved])
			}
		}
	}
	res.elapsed = time.Since(start)
	return res
}

func (r *run) setup(ctx context.Context) {
	t := r.t
	var yaml strings.Builder
	for _, tb := range r.tabs {
		r.env.Exec(t, tb.create, tb.load)
		yaml.WriteString(tb.yaml)
	}
	var err error
	if r.job, err = job.Load(ctx, r.env.SpecYAML(t, yaml.String()), job.Options{CheckTarget: true}); err != nil {
		t.Fatalf("load spec: %v", err)
	}
	t.Cleanup(func() { r.job.DB.Close() })
	r.plans = map[string]*schema.TablePlan{}
	r.conv = map[string]*copier.Converter{}
	var ddl []string
	var tbls []livewrite.Table
	for i := range r.job.Config.Tables {
		p := &r.job.Config.Tables[i].Plan
		if r.sc.blind {
			p.WriteMode = copier.WriteBlindUnsafe
		}
		r.plans[p.Source] = p
		r.conv[p.Source] = &copier.Converter{Plan: p, Loc: time.UTC}
		ddl = append(append(ddl, p.CreateTableDDL()), p.IndexDDL()...)
		tbls = append(tbls, livewrite.TableFromPlan(p))
	}
	ddl = append(append(ddl, livewrite.DDL(r.job.Plans(), nil)...), checkpoint.DDL)
	if err := target.ApplyDDL(ctx, r.env.SpannerDB, ddl); err != nil {
		t.Fatalf("create Spanner tables: %v", err)
	}
	if r.client, err = target.Client(ctx, r.env.SpannerDB); err != nil {
		t.Fatal(err)
	}
	if r.live, err = livewrite.New(r.client, tbls...); err != nil {
		t.Fatal(err)
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = r.env.MySQLUser, r.env.Password(t), "tcp", r.env.MySQLAddr
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	if r.liveDB, err = sql.Open("mysql", cfg.FormatDSN()); err != nil {
		t.Fatal(err)
	}
	r.liveDB.SetMaxOpenConns(4)
	t.Cleanup(func() { r.liveDB.Close() })
}

// backfillJob runs the backfill as job id, the way the CLI does: the run
// holds the job's lease, so the plan, the chunk marks and the progress
// heartbeats all go through the progress table under live writes. With
// interrupt, the job is asked to stop (as Ctrl-C does) once a quarter of
// its chunks are done, drains, and is resumed by a second run that copies
// only the unfinished chunks. It returns the counters per table, summed
// over the runs.
func (r *run) backfillJob(ctx context.Context, id string, interrupt bool) (map[string]map[string]int64, error) {
	t := r.t
	h := checkpoint.Holder{ID: "chaos", Host: "test", Pid: int64(os.Getpid())}
	if _, err := checkpoint.Acquire(ctx, r.client, id, h, time.Minute); err != nil {
		return nil, err
	}
	if !interrupt {
		return r.backfill(ctx, id, h.ID)
	}
	stopped := make(chan int64, 1)
	go func() {
		defer close(stopped)
		for ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
			prog, err := checkpoint.Status(ctx, r.client, id)
			if err != nil || len(prog) < len(r.tabs) {
				continue
			}
			var done, total int64
			for _, p := range prog {
				done, total = done+p.Done, total+p.Chunks
			}
			if done*4 >= total {
				if err := checkpoint.RequestStop(ctx, r.client, id, h.ID); err != nil {
					t.Errorf("request stop: %v", err)
				}
				stopped <- done
				return
			}
		}
	}()
	first, err := r.backfill(ctx, id, h.ID)
	if err != nil {
		return nil, err
	}
	atStop, ok := <-stopped
	if !ok {
		return nil, fmt.Errorf("job %s finished before it could be interrupted", id)
	}
	var done, total int64
	prog, err := checkpoint.Status(ctx, r.client, id)
	if err != nil {
		return nil, err
	}
	for _, p := range prog {
		done, total = done+p.Done, total+p.Chunks
	}
	if done == total {
		return nil, fmt.Errorf("job %s: the interrupted run still finished all %d chunks (stop requested at %d)", id, total, atStop)
	}
	t.Logf("job %s interrupted: %d of %d chunks done (stop requested at %d)", id, done, total, atStop)
	if err := checkpoint.Finish(ctx, r.client, id, h.ID, checkpoint.JobInterrupted, ""); err != nil {
		return nil, err
	}
	// A new run, as the CLI's resume is: its own holder id.
	h.ID = "chaos-resumed"
	if _, err := checkpoint.Acquire(ctx, r.client, id, h, time.Minute); err != nil {
		return nil, err
	}
	second, err := r.backfill(ctx, id, h.ID)
	if err != nil {
		return nil, err
	}
	if prog, err = checkpoint.Status(ctx, r.client, id); err != nil {
		return nil, err
	}
	for _, p := range prog {
		if p.Done != p.Chunks {
			return nil, fmt.Errorf("job %s: after the resumed run %s has %d of %d chunks done", id, p.Table, p.Done, p.Chunks)
		}
	}
	for tbl, c := range second {
		if first[tbl] == nil {
			first[tbl] = map[string]int64{}
		}
		for k, v := range c {
			first[tbl][k] += v
		}
	}
	return first, nil
}

// backfill runs the real pipeline on Prism in this process as run holder
// of job id and returns the counters per table.
func (r *run) backfill(ctx context.Context, id, holder string) (map[string]map[string]int64, error) {
	job := r.job.Config
	job.ID, job.Run = id, holder
	res, err := beam.Run(ctx, "prism", pipelines.Backfill(job))
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]int64{}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		ns := c.Key.Namespace
		if !strings.HasPrefix(ns, transforms.CounterNamespace) {
			continue
		}
		tbl := strings.TrimPrefix(ns, transforms.CounterNamespace)
		if out[tbl] == nil {
			out[tbl] = map[string]int64{}
		}
		out[tbl][c.Key.Name] += c.Result()
	}
	return out, nil
}

// killer kills the backfill's MySQL connections (DB = the test database)
// at random once the backfill writes, until stop. It returns the kill count.
func (r *run) killer(ctx context.Context, rng *rand.Rand, f *frontier, stop <-chan struct{}) int64 {
	var kills int64
	for !f.started() {
		select {
		case <-stop:
			return kills
		case <-time.After(20 * time.Millisecond):
		}
	}
	for {
		select {
		case <-stop:
			return kills
		case <-ctx.Done():
			return kills
		case <-time.After(time.Duration(30+rng.Intn(300)) * time.Millisecond):
		}
		rows, err := r.liveDB.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()", r.env.Name)
		if err != nil {
			continue
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if rows.Scan(&id) == nil {
				ids = append(ids, id)
			}
		}
		rows.Close()
		if len(ids) == 0 {
			continue
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			if rng.Intn(3) == 0 || len(ids) == 1 {
				if _, err := r.liveDB.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id)); err == nil {
					kills++
				}
			}
		}
	}
}

// frontier estimates, per table, the ordinal up to which the backfill has
// written: a binary search with point reads over ordinals the live writer
// never touched (so a row there can only be the backfill's).
type frontier struct {
	r       *run
	mu      sync.Mutex
	pos     map[string]int
	touched map[string]map[int]bool
	any     atomic.Bool
}

func newFrontier(r *run) *frontier {
	f := &frontier{r: r, pos: map[string]int{}, touched: map[string]map[int]bool{}}
	for _, tb := range r.tabs {
		f.touched[tb.name] = map[int]bool{}
	}
	return f
}

func (f *frontier) started() bool { return f.any.Load() }

func (f *frontier) touch(tbl string, n int) {
	f.mu.Lock()
	f.touched[tbl][n] = true
	f.mu.Unlock()
}

func (f *frontier) get(tbl string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pos[tbl]
}

func (f *frontier) run(ctx context.Context, stop <-chan struct{}) {
	for {
		for _, tb := range f.r.tabs {
			p := f.probe(ctx, tb)
			f.mu.Lock()
			f.pos[tb.name] = p
			f.mu.Unlock()
			if p > 0 {
				f.any.Store(true)
			}
		}
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-time.After(400 * time.Millisecond):
		}
	}
}

func (f *frontier) probe(ctx context.Context, tb *table) int {
	plan := f.r.plans[tb.name]
	lo, hi := 0, tb.rows+1 // lo: written (or 0); hi: not written
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		f.mu.Lock()
		for mid < hi && f.touched[tb.name][mid] {
			mid++
		}
		f.mu.Unlock()
		if mid >= hi {
			hi = (lo + hi) / 2
			continue
		}
		_, err := f.r.client.Single().ReadRow(ctx, plan.Target, spanner.Key(tb.key(mid)), plan.TargetKey()[:1])
		if err == nil {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// op is one live change as applied to Spanner.
type op struct {
	table string
	n     int
	row   []any // converted full row; nil = delete
}

// liveWriter changes MySQL and then, after a random delay and in order per
// key, Spanner through livewrite, until stop; then it drains.
func (r *run) liveWriter(ctx context.Context, rng *rand.Rand, f *frontier, stop <-chan struct{}, ops *atomic.Int64) error {
	alive := map[string]*keySet{}
	dead := map[string]*keySet{}
	next := map[string]int{}
	for _, tb := range r.tabs {
		alive[tb.name], dead[tb.name] = newKeySet(), newKeySet()
		for n := 1; n <= tb.rows; n++ {
			alive[tb.name].add(n)
		}
		next[tb.name] = tb.rows + 1
	}
	var ver atomic.Int64
	ver.Store(1 << 40) // above every loaded version: versions only grow
	var wg sync.WaitGroup
	var firstErr error
	var errMu sync.Mutex
	setErr := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	pace := newPacer(r.sc.rate)
	last := map[string]chan struct{}{}
	sem := make(chan struct{}, 64)
	schedule := func(o op) {
		ops.Add(1)
		k := fmt.Sprintf("%s/%d", o.table, o.n)
		prev := last[k]
		done := make(chan struct{})
		last[k] = done
		delay := time.Duration(rng.Intn(501)) * time.Millisecond
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer close(done)
			time.Sleep(delay)
			if prev != nil {
				<-prev
			}
			if err := r.applySpanner(ctx, o); err != nil {
				setErr(err)
			}
		}()
	}
	// pick chooses an ordinal of table tb from set s: near the backfill's
	// frontier (where the races are) or anywhere.
	pick := func(tb *table, s *keySet) (int, bool) {
		if s.len() == 0 {
			return 0, false
		}
		if rng.Intn(10) < 7 {
			fr := f.get(tb.name)
			for try := 0; try < 8; try++ {
				n := fr + rng.Intn(2600)
				if s.has(n) {
					return n, true
				}
			}
		}
		return s.at(rng.Intn(s.len())), true
	}
	for {
		select {
		case <-stop:
			wg.Wait()
			return firstErr
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		default:
		}
		errMu.Lock()
		err := firstErr
		errMu.Unlock()
		if err != nil {
			wg.Wait()
			return err
		}
		tb := r.tabs[rng.Intn(len(r.tabs))]
		a, d := alive[tb.name], dead[tb.name]
		switch x := rng.Intn(100); {
		case x < 35: // update
			n, ok := pick(tb, a)
			if !ok {
				continue
			}
			f.touch(tb.name, n)
			row, err := r.mysqlWrite(ctx, tb, n, tb.values(rng, n, ver.Add(1)), false)
			if err != nil {
				return err
			}
			schedule(op{tb.name, n, row})
		case x < 50: // insert a new key, or re-insert a deleted one
			var n int
			if m, ok := pick(tb, d); ok && rng.Intn(2) == 0 {
				n = m
			} else {
				n = next[tb.name]
				next[tb.name]++
			}
			f.touch(tb.name, n)
			row, err := r.mysqlWrite(ctx, tb, n, tb.values(rng, n, ver.Add(1)), true)
			if err != nil {
				return err
			}
			d.remove(n)
			a.add(n)
			schedule(op{tb.name, n, row})
		case x < 75: // delete
			n, ok := pick(tb, a)
			if !ok {
				continue
			}
			f.touch(tb.name, n)
			if _, err := r.mysqlDelete(ctx, tb, n); err != nil {
				return err
			}
			a.remove(n)
			d.add(n)
			schedule(op{tb.name, n, nil})
		default: // delete, then re-insert the same key: identical values half of the time
			n, ok := pick(tb, a)
			if !ok {
				continue
			}
			f.touch(tb.name, n)
			old, err := r.mysqlDelete(ctx, tb, n)
			if err != nil {
				return err
			}
			schedule(op{tb.name, n, nil})
			vals := old
			if rng.Intn(2) == 0 {
				vals = tb.values(rng, n, ver.Add(1))
			}
			row, err := r.mysqlWrite(ctx, tb, n, vals, true)
			if err != nil {
				return err
			}
			schedule(op{tb.name, n, row})
		}
		// Pace: the emulator runs one read-write transaction at a time, so
		// an unpaced writer would starve the backfill rather than race it.
		pace.Wait(ctx)
	}
}

func (r *run) applySpanner(ctx context.Context, o op) error {
	tb := r.table(o.table)
	plan := r.plans[o.table]
	var err error
	// Retry until it succeeds, as the contract says: every live write is
	// idempotent. The per-attempt deadline unsticks a transaction the
	// emulator leaves hanging.
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		if o.row == nil {
			err = r.live.Delete(actx, plan.Target, spanner.Key(tb.key(o.n)))
		} else {
			err = r.live.Upsert(actx, plan.Target, o.row)
		}
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		r.liveRetries.Add(1)
		time.Sleep(time.Duration(10*min(attempt+1, 20)) * time.Millisecond)
	}
}

func (r *run) table(name string) *table {
	for _, tb := range r.tabs {
		if tb.name == name {
			return tb
		}
	}
	panic(name)
}

func (r *run) qualified(tb *table) string { return "`" + r.env.Name + "`.`" + tb.name + "`" }

// mysqlWrite inserts (or updates) the full row of ordinal n in one MySQL
// transaction and returns the committed row as the converter renders it.
func (r *run) mysqlWrite(ctx context.Context, tb *table, n int, vals []any, insert bool) ([]any, error) {
	tx, err := r.liveDB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if insert {
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", ")
		_, err = tx.ExecContext(ctx, "INSERT INTO "+r.qualified(tb)+" ("+tb.cols+") VALUES ("+ph+")", vals...)
	} else {
		args := make([]any, 0, len(vals))
		for _, i := range tb.setIdx {
			args = append(args, vals[i])
		}
		_, err = tx.ExecContext(ctx, "UPDATE "+r.qualified(tb)+" SET "+tb.set+" WHERE "+tb.where, append(args, tb.key(n)...)...)
	}
	if err != nil {
		return nil, fmt.Errorf("live %s %d: %w", tb.name, n, err)
	}
	row, err := r.readConverted(ctx, tx, tb, n)
	if err != nil {
		return nil, err
	}
	return row, tx.Commit()
}

// mysqlDelete deletes ordinal n and returns its raw values (for re-insert).
func (r *run) mysqlDelete(ctx context.Context, tb *table, n int) ([]any, error) {
	tx, err := r.liveDB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT "+tb.cols+" FROM "+r.qualified(tb)+" WHERE "+tb.where+" FOR UPDATE", tb.key(n)...)
	if err != nil {
		return nil, err
	}
	ncol := len(strings.Split(tb.cols, ","))
	raw := make([]any, ncol)
	dest := make([]any, ncol)
	for i := range dest {
		dest[i] = &raw[i]
	}
	found := rows.Next()
	if found {
		err = rows.Scan(dest...)
	}
	rows.Close()
	if err != nil || !found {
		return nil, fmt.Errorf("live delete %s %d: row not found (%v)", tb.name, n, err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+r.qualified(tb)+" WHERE "+tb.where, tb.key(n)...); err != nil {
		return nil, err
	}
	return raw, tx.Commit()
}

func (r *run) readConverted(ctx context.Context, tx *sql.Tx, tb *table, n int) ([]any, error) {
	plan := r.plans[tb.name]
	sel := make([]string, len(plan.Cols))
	for i, c := range plan.Cols {
		sel[i] = c.Mapping.Select
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM "+r.qualified(tb)+" WHERE "+tb.where, tb.key(n)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, fmt.Errorf("live %s %d: row vanished", tb.name, n)
	}
	raw := make([]any, len(sel))
	dest := make([]any, len(sel))
	for i := range dest {
		dest[i] = &raw[i]
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, err
	}
	vals, _, _, col, bv := r.conv[tb.name].Convert(raw)
	if bv != nil {
		return nil, fmt.Errorf("live %s %d: column %s: %s", tb.name, n, col, bv.Reason)
	}
	return vals, nil
}

// compare checks that Spanner equals MySQL in every row and column, with
// the library comparison the verify job builds on (package rowdiff).
func (r *run) compare(ctx context.Context) (map[string][]string, int) {
	out := map[string][]string{}
	total := 0
	for _, tb := range r.tabs {
		plan := r.plans[tb.name]
		var diffs []string
		for _, d := range rowdiff.Compare(plan, r.dumpMySQL(ctx, plan), r.dumpSpanner(ctx, plan)) {
			what := map[rowdiff.Kind]string{rowdiff.Missing: "missing in Spanner", rowdiff.Extra: "resurrected/extra in Spanner",
				rowdiff.Different: "differs (" + strings.Join(d.Columns, ",") + ")"}[d.Kind]
			diffs = append(diffs, what+": "+schema.KeyString(spanner.Key(d.Key)))
		}
		total += len(diffs)
		if len(diffs) > 0 {
			out[tb.name] = diffs
		}
	}
	return out, total
}

func (r *run) dumpMySQL(ctx context.Context, plan *schema.TablePlan) [][]any {
	var out [][]any
	rd := copier.NewReader(&source.Querier{DB: r.env.MySQL}, plan, 5000, time.UTC)
	_, err := rd.Read(ctx, chunking.Chunk{Table: plan.Source, Of: 1}, func(row *copier.Row) error {
		if row.Bad != nil {
			return fmt.Errorf("column %s: %s", row.BadColumn, row.Bad.Reason)
		}
		out = append(out, row.Vals)
		return nil
	})
	if err != nil {
		r.t.Fatalf("dump MySQL %s: %v", plan.Source, err)
	}
	return out
}

func (r *run) dumpSpanner(ctx context.Context, plan *schema.TablePlan) [][]any {
	var out [][]any
	err := r.client.Single().Read(ctx, plan.Target, spanner.AllKeys(), plan.TargetColumns()).Do(func(row *spanner.Row) error {
		vals, err := schema.DecodeRow(row, plan)
		if err != nil {
			return err
		}
		out = append(out, vals)
		return nil
	})
	if err != nil {
		r.t.Fatalf("dump Spanner %s: %v", plan.Target, err)
	}
	return out
}

// dumpAll renders every row and column of the data and shadow tables
// exactly as Spanner returns them (commit timestamps included).
func (r *run) dumpAll(ctx context.Context) map[string]string {
	out := map[string]string{}
	for _, tb := range r.tabs {
		plan := r.plans[tb.name]
		for _, tbl := range []struct {
			name string
			cols []string
		}{{plan.Target, plan.TargetColumns()}, {livewrite.ShadowTable(plan.Target), livewrite.ShadowColumns(plan.TargetKey())}} {
			err := r.client.Single().Read(ctx, tbl.name, spanner.AllKeys(), tbl.cols).Do(func(row *spanner.Row) error {
				var b strings.Builder
				for i := 0; i < row.Size(); i++ {
					var g spanner.GenericColumnValue
					if err := row.Column(i, &g); err != nil {
						return err
					}
					b.WriteString(g.Value.String())
					b.WriteByte('|')
				}
				n := len(plan.Key)
				key := strings.Join(strings.Split(b.String(), "|")[:n], "|")
				out[tbl.name+"/"+key] = b.String()
				return nil
			})
			if err != nil {
				r.t.Fatalf("dump %s: %v", tbl.name, err)
			}
		}
	}
	return out
}

func diffDumps(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			out = append(out, "removed "+k)
		} else if w != v {
			out = append(out, "changed "+k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, "added "+k)
		}
	}
	sort.Strings(out)
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("… %d more", len(out)-20))
	}
	return out
}

// keySet is a set of ordinals with O(1) random choice.
type keySet struct {
	list []int
	idx  map[int]int
}

func newKeySet() *keySet         { return &keySet{idx: map[int]int{}} }
func (s *keySet) len() int       { return len(s.list) }
func (s *keySet) at(i int) int   { return s.list[i] }
func (s *keySet) has(n int) bool { _, ok := s.idx[n]; return ok }
func (s *keySet) add(n int) {
	if !s.has(n) {
		s.idx[n] = len(s.list)
		s.list = append(s.list, n)
	}
}
func (s *keySet) remove(n int) {
	i, ok := s.idx[n]
	if !ok {
		return
	}
	last := s.list[len(s.list)-1]
	s.list[i] = last
	s.idx[last] = i
	s.list = s.list[:len(s.list)-1]
	delete(s.idx, n)
}

// faultEmulator starts (idempotently) an extra emulator with
// --enable_fault_injection through scripts/stack.sh and points this test's
// process at it.
func faultEmulator(t *testing.T) {
	t.Helper()
	st := testenv.Load(t)
	// Beside the stack's own emulator: its ports + 300, so two stacks on
	// one machine (e.g. a CI clone) each get their own fault emulator.
	base := 19010
	if _, p, ok := strings.Cut(st.EmulatorHost, ":"); ok {
		if n, err := strconv.Atoi(p); err == nil {
			base = n
		}
	}
	grpc, http := strconv.Itoa(base+300), strconv.Itoa(base+310)
	cmd := exec.Command(filepath.Join(st.Root, "scripts", "stack.sh"), "up-spanner")
	cmd.Env = append(os.Environ(), "SPANNER_GRPC_PORT="+grpc, "SPANNER_HTTP_PORT="+http, "SPANNER_EMULATOR_FLAGS=--enable_fault_injection")
	if d := os.Getenv("LM_STACK_DIR"); d != "" {
		// The stack this test runs against keeps the pid files (also when
		// go test runs outside make, e.g. from another checkout).
		cmd.Env = append(cmd.Env, "STACK_DIR="+d)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("start the fault-injecting emulator (scripts/stack.sh up-spanner): %v\n%s", err, out)
	}
	pidFile := filepath.Join(st.Root, ".stack", "spanner-"+grpc+".pid")
	if d := os.Getenv("LM_STACK_DIR"); d != "" {
		pidFile = filepath.Join(d, "spanner-"+grpc+".pid")
	}
	pid, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("fault-injecting emulator: %v", err)
	}
	cmdline, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/cmdline")
	if err != nil || !strings.Contains(string(cmdline), "--enable_fault_injection") {
		t.Fatalf("the emulator on port %s runs without --enable_fault_injection; stop it (make down-spanner SPANNER_GRPC_PORT=%s) and re-run", grpc, grpc)
	}
	t.Setenv("SPANNER_EMULATOR_HOST", "127.0.0.1:"+grpc)
	t.Setenv("LM_SPANNER_EMULATOR_REST", "http://127.0.0.1:"+http)
}

func report(t testing.TB, name string, res *result) {
	t.Helper()
	t.Logf("%s: %s", name, res)
	for tbl, d := range res.diffs {
		shown := d
		if len(shown) > 25 {
			shown = shown[:25]
		}
		t.Logf("%s: %s: %d differing keys, e.g.\n  %s", name, tbl, len(d), strings.Join(shown, "\n  "))
	}
}

// pacer spaces operations evenly at rate per second.
type pacer struct {
	every time.Duration
	next  time.Time
}

func newPacer(rate float64) *pacer {
	return &pacer{every: time.Duration(float64(time.Second) / rate), next: time.Now()}
}

func (p *pacer) Wait(ctx context.Context) {
	p.next = p.next.Add(p.every)
	if d := time.Until(p.next); d > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	} else if d < -time.Second {
		p.next = time.Now() // fell behind: do not burst
	}
}

func newEnv(t testing.TB) *testenv.Env { return testenv.New(t) }
