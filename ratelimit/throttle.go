package ratelimit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

var inf = math.Inf(1)

// Env is what a Throttle needs from outside its configuration.
type Env struct {
	// DB is a pool for the SQL probes, separate from the copy's pool (one
	// connection of it is kept for the probes), so probes are neither
	// starved by the copy nor counted against its budget. Needed when a SQL
	// probe is configured (threads_running, history_list_length, latency,
	// custom, replica_lag without replicas, cpu.proc without a pid).
	DB *sql.DB
	// Connect opens a replica listed in throttle.replica_lag.replicas, with
	// the source's credentials (the DSN has no password). nil: sql.Open
	// ("mysql", dsn) as is.
	Connect func(ctx context.Context, dsn string) (*sql.DB, error)
	// Registry shares the job's budgets among its workers and publishes
	// each worker's Status. nil: this process is the only worker.
	Registry Registry
	// Job is the job id (required with a Registry).
	Job string
	// Worker identifies this worker process; default host-pid-random.
	Worker string
	// Clock is the time source; nil: the real clock.
	Clock Clock
	// Logger receives state changes and probe errors; nil: slog.Default().
	Logger *slog.Logger

	testProbes []probe // scripted probes (tests)
}

// Throttle is the Gate with budgets, probes and the adaptive controller.
// Create one per worker process with New, share it among all the process's
// source queries, and Close it at the end.
type Throttle struct {
	cfg     Config
	env     Env
	clock   Clock
	log     *slog.Logger
	cheap   bool
	useReg  bool // budgets are shared through env.Registry
	publish bool // heartbeats go to env.Registry

	probes []probe
	pc     *probeConn
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change waiters care about
	closed    bool
	failed    *HibernateError
	ctrl      *controller // nil without probes
	readings  []reading
	readAt    time.Time
	logged    map[string]string // last logged error per probe
	rowsLim   *rate.Limiter
	qLim      *rate.Limiter
	credit    float64
	inflight  int
	rowsShare float64 // +Inf: no budget
	qShare    float64
	connShare int // -1: no cap
	workers   int

	joinedAt     time.Time
	lastBeat     time.Time
	regErr       string
	regBlockedAt time.Time

	state      State
	stateSince time.Time // when state began
	reason     string
	since      time.Time // last accounting
	throttled  time.Duration
	paused     time.Duration
	waited     time.Duration
	kinds      map[Kind]KindStats
	winRows    int64
	winStart   time.Time
	lastRate   float64
	// reading is set by the first query that reads rows: the observed
	// rate's window starts there, not when the gate was made.
	reading bool
}

// New starts a Throttle for cfg (validated and filled with defaults here).
// With nothing configured it is a cheap gate: no goroutine, no registry.
// ctx bounds only the setup (resolving probes); the Throttle runs until
// Close.
func New(ctx context.Context, cfg Config, env Env) (*Throttle, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if env.Clock == nil {
		env.Clock = RealClock{}
	}
	if env.Logger == nil {
		env.Logger = slog.Default()
	}
	if env.Worker == "" {
		env.Worker = defaultWorkerID()
	}
	now := env.Clock.Now()
	t := &Throttle{
		cfg: cfg, env: env, clock: env.Clock, log: env.Logger, changed: make(chan struct{}),
		rowsShare: inf, qShare: inf, connShare: -1, workers: 1,
		state: Running, stateSince: now, since: now, winStart: now, kinds: map[Kind]KindStats{}, logged: map[string]string{},
		rowsLim: rate.NewLimiter(rate.Inf, 1), qLim: rate.NewLimiter(rate.Inf, 1),
	}
	if !cfg.Enabled() && env.testProbes == nil {
		t.cheap = true
		return t, nil
	}
	if env.Registry != nil {
		if env.Job == "" {
			return nil, errors.New("ratelimit: Env.Job is required with a Registry")
		}
		t.publish = true
		t.useReg = cfg.hasBudgets()
	}
	if !t.useReg {
		t.rowsShare, t.qShare, t.connShare = shares(cfg, []string{env.Worker}, env.Worker)
	}
	if cfg.hasProbes() || env.testProbes != nil {
		if env.DB != nil {
			t.pc = &probeConn{db: env.DB}
		}
		if env.testProbes != nil {
			t.probes = env.testProbes
		} else {
			ps, err := buildProbes(ctx, cfg, env, t.pc)
			if err != nil {
				if t.pc != nil {
					t.pc.close()
				}
				return nil, err
			}
			t.probes = ps
		}
		t.ctrl = newController(cfg)
		t.ctrl.ceiling = t.rowsShare
	}
	t.applyLimits(now)
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t.cancel = cancel
	if t.ctrl != nil {
		t.wg.Add(1)
		go t.controlLoop(lctx)
	}
	if t.publish {
		t.wg.Add(1)
		go t.registryLoop(lctx)
	}
	return t, nil
}

func defaultWorkerID() string {
	host, _ := os.Hostname()
	b := make([]byte, 3)
	rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Worker is this throttle's worker id.
func (t *Throttle) Worker() string { return t.env.Worker }

// Config is the configuration in force, defaults filled in.
func (t *Throttle) Config() Config { return t.cfg }

// Acquire implements Gate. It waits while the gate is paused or joining,
// for the rows/s and queries/s budgets, and for a connection slot; it
// returns ErrClosed after Close and a *HibernateError once the pause has
// outlasted hibernate_limit.
func (t *Throttle) Acquire(ctx context.Context, kind Kind, rows int) (func(rowsRead int), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows = max(rows, 0)
	if t.cheap {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, ErrClosed
		}
		t.inflight++
		k := t.kinds[kind]
		k.Queries++
		t.kinds[kind] = k
		t.mu.Unlock()
		return t.releaser(kind, rows), nil
	}
	start := t.clock.Now()
	if err := t.wait(ctx, false); err != nil {
		t.addWait(start)
		return nil, err
	}
	if err := t.waitBudget(ctx, rows); err != nil {
		t.addWait(start)
		return nil, err
	}
	// A pause may have begun while we waited for the budget.
	if err := t.wait(ctx, true); err != nil {
		t.addWait(start)
		return nil, err
	}
	t.mu.Lock()
	now := t.clock.Now()
	t.waited += now.Sub(start)
	if rows > 0 && !t.reading {
		// The first rows read: until now the job was planning (or not
		// started), and counting that time would make the rate look
		// slow and the first cut far too deep.
		t.reading, t.winStart, t.winRows = true, now, 0
	}
	k := t.kinds[kind]
	k.Queries++
	t.kinds[kind] = k
	t.mu.Unlock()
	return t.releaser(kind, rows), nil
}

// waitBudget takes rows (and one query) from the budgets and waits until
// they are due. A reservation's delay is fixed by the rate in force when it
// was made, so when the allowed rate changes while we wait (the controller
// ramps up again after a cut), the reservation is given back and made
// anew at the new rate: a page reserved at the floor rate must not keep
// waiting for minutes after the source has recovered.
func (t *Throttle) waitBudget(ctx context.Context, rows int) error {
	for {
		t.mu.Lock()
		now := t.clock.Now()
		limits := [2]rate.Limit{t.rowsLim.Limit(), t.qLim.Limit()}
		res := t.reserve(now, rows)
		ch := t.changed
		t.mu.Unlock()
		if res.delay <= 0 {
			return nil
		}
		due := t.clock.After(res.delay)
	waiting:
		for {
			select {
			case <-ctx.Done():
				t.mu.Lock()
				res.cancel(t, t.clock.Now())
				t.mu.Unlock()
				return ctx.Err()
			case <-due:
				return nil
			case <-ch:
				t.mu.Lock()
				moved := t.rowsLim.Limit() != limits[0] || t.qLim.Limit() != limits[1]
				if moved {
					res.cancel(t, t.clock.Now())
				}
				ch = t.changed
				t.mu.Unlock()
				if moved {
					break waiting
				}
			}
		}
	}
}

func (t *Throttle) addWait(start time.Time) {
	t.mu.Lock()
	t.waited += t.clock.Now().Sub(start)
	t.mu.Unlock()
}

// wait blocks until the gate admits (and, with slot, takes a connection
// slot).
func (t *Throttle) wait(ctx context.Context, slot bool) error {
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return ErrClosed
		}
		if t.failed != nil {
			err := t.failed
			t.mu.Unlock()
			return err
		}
		if t.admitting(t.clock.Now()) && (!slot || t.connShare < 0 || t.inflight < t.connShare) {
			if slot {
				t.inflight++
			}
			t.mu.Unlock()
			return nil
		}
		ch := t.changed
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

func (t *Throttle) joinDelay() time.Duration { return 2 * t.cfg.Heartbeat.D() }
func (t *Throttle) ttl() time.Duration       { return t.cfg.WorkerTTL() }
func (t *Throttle) staleAfter() time.Duration {
	return 3 * t.cfg.Heartbeat.D()
}

// admitting: not paused by the controller, and (when budgets are shared)
// joined and with a fresh heartbeat. Called with mu held.
func (t *Throttle) admitting(now time.Time) bool {
	if t.ctrl != nil && t.ctrl.paused {
		return false
	}
	if t.useReg {
		if t.joinedAt.IsZero() || now.Before(t.joinedAt.Add(t.joinDelay())) {
			return false
		}
		if now.Sub(t.lastBeat) > t.staleAfter() {
			return false
		}
	}
	return true
}

func (t *Throttle) registryBlocked(now time.Time) bool {
	if !t.useReg {
		return false
	}
	if t.lastBeat.IsZero() {
		return t.regErr != ""
	}
	return now.Sub(t.lastBeat) > t.staleAfter()
}

// reserve takes rows (less any credit) from the rows/s budget and one
// query from the queries/s budget, and returns how long to wait. Called
// with mu held.
func (t *Throttle) reserve(now time.Time, rows int) reservation {
	var res reservation
	n := float64(rows)
	if t.credit > 0 {
		res.credit = math.Min(t.credit, n)
		t.credit -= res.credit
		n -= res.credit
	}
	var d1, d2 time.Duration
	d1, res.parts = reserveN(t.rowsLim, now, int(math.Ceil(n)), nil)
	d2, res.parts = reserveN(t.qLim, now, 1, res.parts)
	res.delay = max(d1, d2)
	return res
}

// reservation is what one query took from the budgets.
type reservation struct {
	delay  time.Duration
	credit float64
	parts  []*rate.Reservation
}

// cancel gives a reservation back (with mu held).
func (r reservation) cancel(t *Throttle, now time.Time) {
	for _, p := range r.parts {
		p.CancelAt(now)
	}
	t.credit += r.credit
}

// reserveN reserves n tokens in pieces no larger than the burst (the
// limiter's rule), appending them to parts, and returns the delay of the
// last, which is the longest.
func reserveN(lim *rate.Limiter, now time.Time, n int, parts []*rate.Reservation) (time.Duration, []*rate.Reservation) {
	if n <= 0 || lim.Limit() == rate.Inf {
		return 0, parts
	}
	b := max(lim.Burst(), 1)
	var d time.Duration
	for n > 0 {
		k := min(n, b)
		r := lim.ReserveN(now, k)
		if r.OK() {
			d = r.DelayFrom(now)
			parts = append(parts, r)
		}
		n -= k
	}
	return d, parts
}

func (t *Throttle) releaser(kind Kind, rows int) func(int) {
	var done atomic.Bool
	return func(n int) {
		if !done.CompareAndSwap(false, true) {
			return
		}
		n = max(n, 0)
		t.mu.Lock()
		defer t.mu.Unlock()
		t.inflight--
		k := t.kinds[kind]
		k.Rows += int64(n)
		t.kinds[kind] = k
		t.winRows += int64(n)
		if t.cheap {
			return
		}
		now := t.clock.Now()
		if extra := n - rows; extra > 0 {
			reserveN(t.rowsLim, now, extra, nil) // a debt the next queries wait out
		} else if extra < 0 && t.rowsLim.Limit() != rate.Inf {
			// Credit the rows not read to the next query, at most a second's worth.
			t.credit = math.Min(t.credit-float64(extra), float64(t.rowsLim.Limit()))
		}
		t.notify()
	}
}

func (t *Throttle) notify() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// allowed is the rows/s limit in force. Called with mu held.
func (t *Throttle) allowed() float64 {
	l := t.rowsShare
	if t.ctrl != nil {
		l = math.Min(l, t.ctrl.rate)
	}
	return l
}

func (t *Throttle) applyLimits(now time.Time) {
	setLimit(t.rowsLim, now, t.allowed())
	setLimit(t.qLim, now, t.qShare)
	if math.IsInf(t.allowed(), 1) {
		t.credit = 0
	}
}

func setLimit(lim *rate.Limiter, now time.Time, l float64) {
	if math.IsInf(l, 1) {
		if lim.Limit() != rate.Inf {
			lim.SetLimitAt(now, rate.Inf)
		}
		return
	}
	if lim.Limit() != rate.Limit(l) {
		lim.SetLimitAt(now, rate.Limit(l))
	}
	// A tenth of a second's worth: the budget holds over short windows too.
	if b := max(1, int(l/10)); lim.Burst() != b {
		lim.SetBurstAt(now, b)
	}
}

// rollWindow returns the rows/s read over the current window, starting a
// new window when forced (each controller sample) or when a sample
// interval has passed. Called with mu held.
func (t *Throttle) rollWindow(now time.Time, force bool) float64 {
	el := now.Sub(t.winStart)
	if el <= 0 || (!force && el < t.cfg.SampleInterval.D()) {
		return t.lastRate
	}
	t.lastRate = float64(t.winRows) / el.Seconds()
	t.winRows, t.winStart = 0, now
	return t.lastRate
}

func (t *Throttle) controlLoop(ctx context.Context) {
	defer t.wg.Done()
	next := t.cfg.SampleInterval.D()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.clock.After(next):
		}
		rs := readAll(ctx, t.probes, t.cfg.ProbeTimeout.D())
		if ctx.Err() != nil {
			return
		}
		t.mu.Lock()
		now := t.clock.Now()
		observed := t.rollWindow(now, true)
		next = t.ctrl.step(now, rs, observed)
		t.readings, t.readAt = rs, now
		for _, r := range rs {
			msg := ""
			if r.Err != nil {
				msg = r.Err.Error()
			}
			if msg != t.logged[r.Name] {
				if msg != "" {
					t.log.Warn("throttle: probe unreadable, slowing down", "probe", r.Name, "error", msg)
				} else {
					t.log.Info("throttle: probe readable again", "probe", r.Name)
				}
				t.logged[r.Name] = msg
			}
		}
		if t.ctrl.failed != nil && t.failed == nil {
			t.failed = t.ctrl.failed
		}
		t.applyLimits(now)
		t.updateState(now)
		t.notify()
		t.mu.Unlock()
	}
}

func (t *Throttle) registryLoop(ctx context.Context) {
	defer t.wg.Done()
	hb := t.cfg.Heartbeat.D()
	for {
		st := t.Status()
		hctx, cancel := context.WithTimeout(ctx, t.ttl())
		ids, err := t.env.Registry.Heartbeat(hctx, t.env.Job, t.env.Worker, t.ttl(), st)
		cancel()
		if ctx.Err() != nil {
			return
		}
		t.mu.Lock()
		now := t.clock.Now()
		if err == nil {
			if t.lastBeat.IsZero() || now.Sub(t.lastBeat) > t.ttl() {
				// (Re)joining: the others must shrink their shares first.
				t.joinedAt = now
			}
			t.lastBeat, t.regErr = now, ""
			ids = append([]string(nil), ids...)
			sort.Strings(ids)
			t.workers = len(ids)
			if i := sort.SearchStrings(ids, t.env.Worker); i == len(ids) || ids[i] != t.env.Worker {
				t.workers++ // not listed yet: count ourselves in
			}
			if t.useReg {
				t.rowsShare, t.qShare, t.connShare = shares(t.cfg, ids, t.env.Worker)
				if t.ctrl != nil {
					t.ctrl.ceiling = t.rowsShare
				}
			}
		} else {
			msg := oneLineErr(err).Error()
			if msg != t.regErr {
				t.log.Warn("throttle: worker registry heartbeat failed", "error", msg)
			}
			t.regErr = msg
		}
		t.applyLimits(now)
		t.updateState(now)
		t.notify()
		wait := hb
		if until := t.joinedAt.Add(t.joinDelay()).Sub(now); t.useReg && until > 0 && until < wait {
			wait = until
		}
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.clock.After(wait):
		}
	}
}

// updateState adds the time since the last update to the current state's
// total and moves to the state the gate is in now. Called with mu held.
func (t *Throttle) updateState(now time.Time) {
	st, reason := t.currentState(now)
	if d := now.Sub(t.since); d > 0 {
		switch t.state {
		case Throttled:
			t.throttled += d
		case Paused:
			t.paused += d
		}
	}
	t.since = now
	if st != t.state {
		t.stateSince = now
		switch st {
		case Paused:
			t.log.Warn("throttle: paused", "reason", reason)
		case Failed:
			t.log.Error("throttle: giving up", "error", t.failed.Error())
		case Throttled:
			t.log.Info("throttle: throttled", "reason", reason, "allowed_rows_per_second", int64(t.allowed()))
		case Running:
			t.log.Info("throttle: running at full budget")
		}
	}
	t.state, t.reason = st, reason
}

func (t *Throttle) currentState(now time.Time) (State, string) {
	if t.failed != nil {
		return Failed, t.failed.Reason
	}
	if t.ctrl != nil && t.ctrl.paused {
		return Paused, t.ctrl.reason
	}
	if t.registryBlocked(now) {
		if t.regBlockedAt.IsZero() {
			t.regBlockedAt = now
		}
		reason := "worker registry unreachable: " + t.regErr
		if t.regErr == "" {
			reason = fmt.Sprintf("worker registry: no heartbeat for %s", now.Sub(t.lastBeat).Round(time.Second))
		}
		if d := now.Sub(t.regBlockedAt); d >= t.cfg.HibernateLimit.D() {
			t.failed = &HibernateError{Reason: reason, For: d, Limit: t.cfg.HibernateLimit.D()}
			return Failed, reason
		}
		return Paused, reason
	}
	t.regBlockedAt = time.Time{}
	if t.useReg && (t.joinedAt.IsZero() || now.Before(t.joinedAt.Add(t.joinDelay()))) {
		return Joining, "waiting for the job's other workers to make room"
	}
	if t.connShare == 0 {
		return Paused, fmt.Sprintf("no connection share: throttle.max_connections %d < %d live workers", t.cfg.MaxConnections, t.workers)
	}
	if t.ctrl != nil && t.ctrl.limiting() {
		return Throttled, t.ctrl.reason
	}
	return Running, ""
}

// Status is a snapshot of the gate.
func (t *Throttle) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	if !t.cheap {
		t.updateState(now)
	}
	s := Status{
		State: t.state, Since: t.stateSince, Reason: t.reason, RowsPerSecond: t.rollWindow(now, false),
		ThrottledFor: t.throttled, PausedFor: t.paused, WaitedFor: t.waited,
		Workers: t.workers, InFlight: t.inflight, At: now,
		Kinds: make(map[Kind]KindStats, len(t.kinds)),
	}
	switch t.state {
	case Throttled:
		s.ThrottledFor += now.Sub(t.since)
	case Paused:
		s.PausedFor += now.Sub(t.since)
	}
	for k, v := range t.kinds {
		s.Kinds[k] = v
	}
	if a := t.allowed(); math.IsInf(a, 1) {
		s.Unlimited = true
	} else {
		s.AllowedRowsPerSecond = a
	}
	if !math.IsInf(t.rowsShare, 1) {
		s.Share.RowsPerSecond = t.rowsShare
	}
	if !math.IsInf(t.qShare, 1) {
		s.Share.QueriesPerSecond = t.qShare
	}
	s.Share.Connections = t.connShare
	if t.failed != nil {
		s.Error = t.failed.Error()
	}
	s.Registry = t.regErr
	for _, r := range t.readings {
		p := ProbeStatus{Name: r.Name, Value: r.Value, Unit: r.Unit, Max: r.Max, Critical: r.Critical, At: t.readAt}
		switch r.level(t.cfg.Hysteresis) {
		case levelOK:
			p.Level = "ok"
		case levelHold:
			p.Level = "high"
			if r.Warming {
				p.Level = "warming"
			}
		case levelOver:
			p.Level = "over"
		case levelCritical:
			p.Level = "critical"
		case levelError:
			p.Level, p.Error = "error", r.Err.Error()
		}
		s.Probes = append(s.Probes, p)
	}
	return s
}

// Close stops the controller and the heartbeat, leaves the registry and
// closes the probes' connections. Waiting and later Acquire calls return
// ErrClosed.
func (t *Throttle) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.notify()
	t.mu.Unlock()
	if t.cancel != nil {
		t.cancel()
		t.wg.Wait()
	}
	if t.publish {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := t.env.Registry.Leave(ctx, t.env.Job, t.env.Worker); err != nil {
			t.log.Warn("throttle: leaving the worker registry failed (the entry expires by itself)", "error", oneLineErr(err).Error())
		}
		cancel()
	}
	for _, p := range t.probes {
		p.close()
	}
	if t.pc != nil {
		t.pc.close()
	}
}
