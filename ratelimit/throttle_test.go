package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptProbe returns whatever the test set last.
type scriptProbe struct {
	label     string
	max, crit float64

	mu    sync.Mutex
	v     float64
	err   error
	reads int
}

func (p *scriptProbe) name() string               { return p.label }
func (p *scriptProbe) unit() string               { return "" }
func (p *scriptProbe) limits() (float64, float64) { return p.max, p.crit }
func (p *scriptProbe) close()                     {}
func (p *scriptProbe) set(v float64)              { p.mu.Lock(); p.v, p.err = v, nil; p.mu.Unlock() }
func (p *scriptProbe) count() int                 { p.mu.Lock(); defer p.mu.Unlock(); return p.reads }
func (p *scriptProbe) read(context.Context) (float64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reads++
	return p.v, p.err
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// sampled advances the fake clock by d and waits until the controller has
// taken its sample and is waiting for the next one.
func sampled(t *testing.T, clk *fakeClock, p *scriptProbe, d time.Duration) {
	t.Helper()
	waitFor(t, func() bool { return clk.Waiters() >= 1 })
	n := p.count()
	clk.Advance(d)
	waitFor(t, func() bool { return p.count() > n && clk.Waiters() >= 1 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func newScripted(t *testing.T, cfg Config) (*Throttle, *fakeClock, *scriptProbe) {
	t.Helper()
	clk := newFakeClock()
	p := &scriptProbe{label: "threads_running", max: 25, crit: 50}
	th, err := New(context.Background(), cfg, Env{Clock: clk, Logger: quiet, testProbes: []probe{p}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(th.Close)
	return th, clk, p
}

// TestThrottlePauseBlocksAcquireAndResumes: a confirmed critical reading
// pauses the gate: Acquire waits without holding anything (nothing in
// flight), returns once every probe is under max again, and the paused time
// is in Status, to the fake clock's millisecond.
func TestThrottlePauseBlocksAcquireAndResumes(t *testing.T) {
	th, clk, p := newScripted(t, Config{})
	ctx := context.Background()
	rel, err := th.Acquire(ctx, Page, 100)
	if err != nil {
		t.Fatal(err)
	}
	rel(100)
	p.set(80)
	sampled(t, clk, p, time.Second)          // t=1s: critical, not yet confirmed
	sampled(t, clk, p, 250*time.Millisecond) // t=1.25s: confirmed: paused
	if st := th.Status(); st.State != Paused || st.Reason != "threads_running 80 > 50" {
		t.Fatalf("status %s", st)
	}
	done := make(chan error, 1)
	go func() {
		// rows 0: the test is about the pause, not the (now low) rows/s limit.
		rel, err := th.Acquire(ctx, Page, 0)
		if err == nil {
			rel(0)
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Acquire returned while paused: %v", err)
	default:
	}
	if st := th.Status(); st.InFlight != 0 {
		t.Fatalf("%d queries in flight while paused: a waiting caller must hold nothing", st.InFlight)
	}
	p.set(30)                                // between max and critical: still paused
	sampled(t, clk, p, 250*time.Millisecond) // t=1.5s
	if st := th.Status(); st.State != Paused || st.Reason != "threads_running 30 > 25" {
		t.Fatalf("status %s", st)
	}
	p.set(10)
	sampled(t, clk, p, 250*time.Millisecond) // t=1.75s: resumed
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Acquire did not return after the pause ended")
	}
	st := th.Status()
	if st.State != Throttled || st.PausedFor != 500*time.Millisecond {
		t.Fatalf("after resume: state %s, paused %v (want throttled, exactly 500ms)", st.State, st.PausedFor)
	}
	if len(st.Probes) != 1 || st.Probes[0].Value != 10 || st.Probes[0].Level != "ok" {
		t.Fatalf("probes %+v", st.Probes)
	}
}

// TestThrottleHibernate: a pause longer than hibernate_limit fails waiting
// and later Acquire calls with a recognisable *HibernateError.
func TestThrottleHibernate(t *testing.T) {
	th, clk, p := newScripted(t, Config{HibernateLimit: Duration(2 * time.Second)})
	p.set(99)
	sampled(t, clk, p, time.Second)
	sampled(t, clk, p, 250*time.Millisecond) // paused at 1.25s
	done := make(chan error, 1)
	go func() {
		_, err := th.Acquire(context.Background(), Plan, 0)
		done <- err
	}()
	for i := 0; i < 8; i++ { // to 3.25s: 2s paused
		sampled(t, clk, p, 250*time.Millisecond)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Acquire still waiting after the hibernate limit")
	}
	var he *HibernateError
	if !errors.As(err, &he) || he.For != 2*time.Second || he.Reason != "threads_running 99 > 50" {
		t.Fatalf("error %v (%T)", err, err)
	}
	if _, err2 := th.Acquire(context.Background(), Page, 1); !IsHibernate(err2) {
		t.Fatalf("later Acquire: %v", err2)
	}
	st := th.Status()
	if st.State != Failed || !strings.Contains(st.Error, "source critical for 2s: threads_running 99 > 50; raise throttle.hibernate_limit") {
		t.Fatalf("status %+v", st)
	}
}

// TestThrottleCheap: nothing configured gives a gate with no goroutine that
// admits at once and still counts.
func TestThrottleCheap(t *testing.T) {
	th, err := New(context.Background(), Config{}, Env{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	if !th.cheap || th.cancel != nil {
		t.Fatal("an empty config started the machinery")
	}
	for i := 0; i < 3; i++ {
		rel, err := th.Acquire(context.Background(), Page, 1000)
		if err != nil {
			t.Fatal(err)
		}
		rel(700)
		rel(700) // a second release is ignored
	}
	st := th.Status()
	if st.State != Running || !st.Unlimited || st.InFlight != 0 || st.Kinds[Page] != (KindStats{Queries: 3, Rows: 2100}) {
		t.Fatalf("status %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := th.Acquire(ctx, Page, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
	if _, err := (Unlimited{}).Acquire(ctx, Page, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Unlimited with cancelled ctx: %v", err)
	}
}

// TestThrottleRowsBudget: the rows/s budget paces queries by the rows they
// declare, credits rows not read and charges rows read beyond.
func TestThrottleRowsBudget(t *testing.T) {
	clk := newFakeClock()
	clk.auto = true
	th, err := New(context.Background(), Config{RowsPerSecond: 1000}, Env{Clock: clk, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	ctx := context.Background()
	take := func(rows, read int) time.Duration {
		t0 := clk.Now()
		rel, err := th.Acquire(ctx, Page, rows)
		if err != nil {
			t.Fatal(err)
		}
		rel(read)
		return clk.Now().Sub(t0)
	}
	var total time.Duration
	for i := 0; i < 50; i++ {
		total += take(100, 100)
	}
	// 5000 rows at 1000 rows/s (the bucket starts nearly empty).
	if total < 4900*time.Millisecond || total > 5000*time.Millisecond {
		t.Fatalf("5000 rows took %v at 1000 rows/s", total)
	}
	take(100, 10) // 90 rows credited
	if d := take(100, 100); d > 15*time.Millisecond {
		t.Fatalf("after a short page the next waited %v; the credit should cover 90 of its 100 rows", d)
	}
	take(100, 300) // 200 rows more than declared: a debt
	if d := take(100, 100); d < 290*time.Millisecond || d > 310*time.Millisecond {
		t.Fatalf("after an over-long page the next waited %v, want ~300ms (debt 200 + its own 100)", d)
	}
	if st := th.Status(); st.AllowedRowsPerSecond != 1000 || st.Share.RowsPerSecond != 1000 || st.Workers != 1 {
		t.Fatalf("status %+v", st)
	}
}

// TestThrottleQueriesBudget: queries/s counts every query, rows or not.
func TestThrottleQueriesBudget(t *testing.T) {
	clk := newFakeClock()
	clk.auto = true
	th, err := New(context.Background(), Config{QueriesPerSecond: 10}, Env{Clock: clk, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	t0 := clk.Now()
	for i := 0; i < 21; i++ {
		rel, err := th.Acquire(context.Background(), Revalidate, 0)
		if err != nil {
			t.Fatal(err)
		}
		rel(0)
	}
	if d := clk.Now().Sub(t0); d != 2*time.Second {
		t.Fatalf("21 queries at 10/s took %v, want 2s (the first is the burst)", d)
	}
}

// TestThrottleConnectionCap: with a cap of 2, a third query waits for a
// release.
func TestThrottleConnectionCap(t *testing.T) {
	th, err := New(context.Background(), Config{MaxConnections: 2}, Env{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	ctx := context.Background()
	r1, _ := th.Acquire(ctx, Page, 1)
	r2, _ := th.Acquire(ctx, Page, 1)
	got := make(chan func(int), 1)
	go func() {
		r3, err := th.Acquire(ctx, Page, 1)
		if err != nil {
			t.Error(err)
		}
		got <- r3
	}()
	time.Sleep(50 * time.Millisecond)
	if st := th.Status(); st.InFlight != 2 || len(got) != 0 {
		t.Fatalf("in flight %d, third admitted %v", st.InFlight, len(got) == 1)
	}
	r1(1)
	r3 := <-got
	r2(1)
	r3(1)
	if st := th.Status(); st.InFlight != 0 || st.Share.Connections != 2 {
		t.Fatalf("status %+v", st)
	}
}

// TestThrottleCloseReleasesWaiters: Close ends waits with ErrClosed.
func TestThrottleCloseReleasesWaiters(t *testing.T) {
	th, err := New(context.Background(), Config{MaxConnections: 1}, Env{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	th.Acquire(context.Background(), Page, 1)
	done := make(chan error)
	go func() {
		_, err := th.Acquire(context.Background(), Page, 1)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	th.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiter got %v", err)
	}
}

func TestShares(t *testing.T) {
	cases := []struct {
		cap    int
		ids    []string
		self   string
		conns  int
		rowsOf float64 // rows share with a 900 rows/s budget
	}{
		{8, []string{"a", "b", "c"}, "a", 3, 300},
		{8, []string{"a", "b", "c"}, "b", 3, 300},
		{8, []string{"a", "b", "c"}, "c", 2, 300},
		{2, []string{"a", "b", "c"}, "c", 0, 300},
		{4, []string{"a"}, "a", 4, 900},
		{4, []string{"a", "c"}, "b", 1, 300}, // not listed yet: counted in, last
	}
	for _, c := range cases {
		rows, q, conns := shares(Config{RowsPerSecond: 900, MaxConnections: c.cap}, c.ids, c.self)
		if conns != c.conns || rows != c.rowsOf || !math.IsInf(q, 1) {
			t.Errorf("cap %d ids %v self %s: rows %v q %v conns %d, want %v, inf, %d", c.cap, c.ids, c.self, rows, q, conns, c.rowsOf, c.conns)
		}
	}
	// Property: for any worker count the connection shares add up to the cap.
	for n := 1; n <= 12; n++ {
		for cap := 1; cap <= 20; cap++ {
			var ids []string
			for i := 0; i < n; i++ {
				ids = append(ids, string(rune('a'+i)))
			}
			sum := 0
			for _, id := range ids {
				_, _, c := shares(Config{MaxConnections: cap}, ids, id)
				sum += c
			}
			if sum != cap {
				t.Fatalf("%d workers, cap %d: shares add up to %d", n, cap, sum)
			}
		}
	}
}

// TestThrottleLocalRegistry: three throttles sharing budgets through a
// registry join (waiting first), split rows and connections, and take the
// share of one that leaves.
func TestThrottleLocalRegistry(t *testing.T) {
	reg := &LocalRegistry{}
	cfg := Config{RowsPerSecond: 900, MaxConnections: 4, Heartbeat: Duration(100 * time.Millisecond)}
	var ths []*Throttle
	for _, id := range []string{"w1", "w2", "w3"} {
		th, err := New(context.Background(), cfg, Env{Registry: reg, Job: "j", Worker: id, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer th.Close()
		ths = append(ths, th)
	}
	if st := ths[2].Status(); st.State != Joining {
		t.Fatalf("a new worker is %s, want joining", st.State)
	}
	t0 := time.Now()
	rel, err := ths[2].Acquire(context.Background(), Page, 1)
	if err != nil {
		t.Fatal(err)
	}
	rel(1)
	if d := time.Since(t0); d < 150*time.Millisecond {
		t.Fatalf("admitted after %v, before the join delay (2 heartbeats)", d)
	}
	waitFor(t, func() bool {
		for _, th := range ths {
			if st := th.Status(); st.Workers != 3 || st.State != Running {
				return false
			}
		}
		return true
	})
	conns := 0
	for _, th := range ths {
		st := th.Status()
		conns += st.Share.Connections
		if st.Share.RowsPerSecond != 300 || st.AllowedRowsPerSecond != 300 {
			t.Fatalf("%s: share %+v", th.Worker(), st.Share)
		}
	}
	if conns != 4 {
		t.Fatalf("connection shares add up to %d, want the cap 4", conns)
	}
	ths[0].Close()
	waitFor(t, func() bool { return ths[1].Status().Workers == 2 && ths[2].Status().Workers == 2 })
	if st := ths[1].Status(); st.Share.RowsPerSecond != 450 || st.Share.Connections != 2 {
		t.Fatalf("after one left: %+v", st.Share)
	}
}

// TestStatusJSONAndString: Status survives JSON (it rides in the registry
// and the report) and renders on one line.
func TestStatusJSONAndString(t *testing.T) {
	st := Status{State: Throttled, Reason: "cpu 83 % > 70 %", AllowedRowsPerSecond: 12400.4, RowsPerSecond: 12100,
		Probes:       []ProbeStatus{{Name: "cpu", Value: 83, Unit: "%", Max: 70, Critical: 90, Level: "over"}, {Name: "threads_running", Level: "error", Error: "x"}},
		ThrottledFor: 65 * time.Second, Workers: 3, Share: Share{RowsPerSecond: 12400, Connections: 2},
		Kinds: map[Kind]KindStats{Page: {Queries: 3, Rows: 6000}}}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back Status
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Reason != st.Reason || back.ThrottledFor != st.ThrottledFor || back.Kinds[Page].Rows != 6000 || back.Probes[0].Value != 83 {
		t.Fatalf("round trip %+v", back)
	}
	want := "throttled: cpu 83 % > 70 % · allowed 12,400 rows/s · read 12,100 rows/s · cpu 83 %, threads_running unreadable · throttled 1m5s, paused 0s · worker share 1/3"
	if got := st.String(); got != want {
		t.Fatalf("String()\n got %s\nwant %s", got, want)
	}
	sum := Sum([]Status{st, {State: Paused, Reason: "threads_running 60 > 50", PausedFor: time.Second, Unlimited: true}})
	if sum.State != Paused || sum.Reason != "threads_running 60 > 50" || sum.ThrottledFor != 65*time.Second || sum.PausedFor != time.Second || sum.Workers != 2 {
		t.Fatalf("sum %+v", sum)
	}
}

// TestThrottleReReservesWhenTheRateRises: a query waiting on a reservation
// made at a low rate is admitted soon after the rate rises, instead of
// waiting out the delay the low rate gave it.
func TestThrottleReReservesWhenTheRateRises(t *testing.T) {
	th, err := New(context.Background(), Config{RowsPerSecond: 10}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	ctx := context.Background()
	// Use the burst, then ask for 1,000 rows: at 10 rows/s that is ~100 s.
	rel, err := th.Acquire(ctx, Page, 1)
	if err != nil {
		t.Fatal(err)
	}
	rel(1)
	done := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		rel, err := th.Acquire(ctx, Page, 1000)
		if err == nil {
			rel(1000)
		}
		done <- time.Since(start)
	}()
	time.Sleep(200 * time.Millisecond)
	th.mu.Lock()
	th.rowsShare = 1e6
	th.applyLimits(th.clock.Now())
	th.notify()
	th.mu.Unlock()
	select {
	case d := <-done:
		if d > 2*time.Second {
			t.Fatalf("admitted after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting query kept the delay of the old rate")
	}
}

// TestThrottleRateFromFirstRead: the rate a first cut starts from is
// measured from the first query that reads rows, not from when the gate
// was made (a worker plans its tables first): 1000 rows read in the last
// 0.1 s of the first second are 10,000 rows/s, not 1,000.
func TestThrottleRateFromFirstRead(t *testing.T) {
	th, clk, p := newScripted(t, Config{})
	waitFor(t, func() bool { return clk.Waiters() >= 1 }) // the controller waits for its first sample
	clk.Advance(900 * time.Millisecond)                   // planning: nothing read
	rel, err := th.Acquire(context.Background(), Page, 1000)
	if err != nil {
		t.Fatal(err)
	}
	rel(1000)
	p.set(40)                                // over max 25: cut to 25/40 of the observed rate
	sampled(t, clk, p, 100*time.Millisecond) // t = 1 s
	st := th.Status()
	if want := 10000 * 25.0 / 40; st.State != Throttled || math.Abs(st.AllowedRowsPerSecond-want) > 1 {
		t.Fatalf("state %s, allowed %.0f rows/s after the first cut, want %.0f (observed %.0f rows/s)", st.State, st.AllowedRowsPerSecond, want, st.RowsPerSecond)
	}
}
