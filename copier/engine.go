package copier

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/ratelimit"
	"github.com/livemigrate/livemigrate/retry"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/source"
	"github.com/livemigrate/livemigrate/target"
)

// Engine is one worker process's copier for one job: the job
// configuration and the live resources built from it once — the source
// Querier (pool, gate, retry), the Spanner client and the PII protector.
// It is safe for concurrent use by every DoFn instance of the process.
type Engine struct {
	Job    config.Job
	Q      *source.Querier
	Client *spanner.Client
	Gate   ratelimit.Gate
	// Protect is the PII protector (nil: the job protects nothing).
	Protect *pii.Protector
	Loc     *time.Location
	Log     *slog.Logger

	tables map[string]*config.Table
	key    string
	refs   int

	mu       sync.Mutex
	reported [3]time.Duration // throttled, paused, waited: what ThrottleDelta returned so far
	// stopped is set once a chunk of this process learnt that the job
	// must stop (interrupted, or taken over): later chunks skip at once.
	stopped atomic.Bool
	// slots bounds the chunks this process handles at once
	// (Job.Worker.InFlight; nil: no bound).
	slots chan struct{}
}

// ErrStopped ends a chunk copy that stopped because its job is stopping:
// an interrupt (the job row says stopping) or another run took the job
// over. The chunk is not done; a resumed run copies it again.
var ErrStopped = errors.New("job stopping: chunk left for the resumed run")

// ProgressEvery is how often a chunk in flight records its rows so far in
// the progress table (checked between pages), which is also how often it
// learns that its job must stop.
const ProgressEvery = 2 * time.Second

var (
	enginesMu sync.Mutex
	engines   = map[string]*Engine{}
)

// Open returns this process's engine for job, building it on first use:
// every DoFn of a job in a worker process shares one engine, so one gate
// (one throttle controller) and one protector (one keyset read) serve
// them all. Each Open must be paired with a Close.
func Open(ctx context.Context, job config.Job, opts ...Option) (*Engine, error) {
	data, err := json.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("job configuration: %w", err)
	}
	sum := sha256.Sum256(data)
	key := fmt.Sprintf("%x", sum[:16])
	enginesMu.Lock()
	defer enginesMu.Unlock()
	if e, ok := engines[key]; ok {
		e.refs++
		return e, nil
	}
	// A worker may start while the source is down (a restart): opening
	// the pool is ridden out like any source query.
	var db *sql.DB
	err = job.SourceRetry.Do(ctx, source.Retryable, logSourceRetry, func(ctx context.Context) error {
		var err error
		db, err = source.Pool(ctx, job.Source)
		return err
	})
	if err != nil {
		return nil, sourceWindow(job, err)
	}
	// A job without a target database only reads (the extraction
	// benchmark); everything else needs the client.
	var client *spanner.Client
	if job.Database != "" {
		if client, err = target.Client(ctx, job.Database); err != nil {
			return nil, err
		}
	}
	e, err := build(ctx, job, db, client, opts...)
	if err != nil {
		return nil, err
	}
	e.key, e.refs = key, 1
	engines[key] = e
	return e, nil
}

// New builds an engine over given resources (tests, benchmarks). Close
// releases what it built, not db or client.
func New(ctx context.Context, job config.Job, db *sql.DB, client *spanner.Client, opts ...Option) (*Engine, error) {
	return build(ctx, job, db, client, opts...)
}

// Option adjusts how an engine is built.
type Option func(*options)

type options struct {
	readFile pii.ReadFileFunc
}

// WithReadFile makes the engine read the PII keyset through f (a worker
// reads gs:// paths through Beam's filesystems; the default reads local
// files).
func WithReadFile(f pii.ReadFileFunc) Option { return func(o *options) { o.readFile = f } }

func build(ctx context.Context, job config.Job, db *sql.DB, client *spanner.Client, opts ...Option) (*Engine, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	e := &Engine{Job: job, Client: client, Loc: job.Source.Location(), Log: slog.Default(), tables: map[string]*config.Table{}}
	for i := range job.Tables {
		e.tables[job.Tables[i].Plan.Source] = &job.Tables[i]
	}
	gate, err := newGate(ctx, job, client)
	if err != nil {
		return nil, err
	}
	prot, err := NewProtector(ctx, job, o.readFile)
	if err != nil {
		return nil, err
	}
	e.Gate, e.Protect = gate, prot
	e.Q = &source.Querier{DB: db, Gate: gate, Retry: job.SourceRetry, OnRetry: logSourceRetry}
	if job.Worker.InFlight > 0 {
		e.slots = make(chan struct{}, job.Worker.InFlight)
	}
	return e, nil
}

// Hold takes one of this process's in-flight slots for a chunk (or a
// verify unit), waiting while Job.Worker.InFlight of them are taken; call
// release (once or more) when the chunk is done. A runner that starts more chunks at once
// than the job allows (Prism splits a slow lane's bundle) makes the extra
// ones wait here instead of holding their pages in memory side by side.
func (e *Engine) Hold(ctx context.Context) (release func(), err error) {
	if e.slots == nil {
		return func() {}, nil
	}
	select {
	case e.slots <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-e.slots }) }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// logSourceRetry logs one retry of a source query: the cause and the time
// left in the source retry window.
func logSourceRetry(ev retry.Event) {
	slog.Default().Warn("MySQL unavailable; retrying", "cause", oneLine(ev.Err), "attempt", ev.Attempt,
		"wait", ev.Wait.Round(time.Millisecond), "left", ev.Left.Round(time.Second))
}

// sourceWindow names the window in the error of a source that stayed
// unavailable for all of it.
func sourceWindow(job config.Job, err error) error {
	var ex *retry.ExhaustedError
	if !errors.As(err, &ex) {
		return err
	}
	w := job.SourceRetry.Window
	if w == 0 {
		w = retry.DefaultWindow
	}
	return fmt.Errorf("MySQL unavailable for %s, the whole source retry window (--source-retry-window %s): %s",
		ex.Elapsed.Round(time.Second), w, oneLine(ex.Err))
}

// newGate builds the source throttle of job: one per worker process, with
// a small pool of its own for the SQL probes (never counted against the
// copy's budget), sharing the job-wide budgets through the worker registry
// in the target when the job has an id. Without a throttle section every
// query is admitted at once.
func newGate(ctx context.Context, job config.Job, client *spanner.Client) (ratelimit.Gate, error) {
	if !job.Throttle.Enabled() {
		return ratelimit.Unlimited{}, nil
	}
	probeSrc := job.Source
	one := 2
	probeSrc.MaxConnections = &one
	probes, err := source.Open(ctx, probeSrc)
	if err != nil {
		return nil, err
	}
	env := ratelimit.Env{DB: probes, Job: job.ID, Logger: slog.Default(),
		Connect: func(ctx context.Context, dsn string) (*sql.DB, error) {
			replica := job.Source
			replica.DSN, replica.MaxConnections = dsn, &one
			return source.Open(ctx, replica)
		}}
	if job.ID != "" && client != nil {
		env.Registry = checkpoint.NewWorkerRegistry(client)
	}
	t, err := ratelimit.New(ctx, job.Throttle, env)
	if err != nil {
		probes.Close()
		return nil, err
	}
	return &closingGate{Throttle: t, probes: probes}, nil
}

// closingGate is the throttle plus the probe pool it owns.
type closingGate struct {
	*ratelimit.Throttle
	probes *sql.DB
}

func (g *closingGate) Close() {
	g.Throttle.Close()
	g.probes.Close()
}

// ThrottleDelta returns how much longer this worker's gate has been
// throttled and paused, and its callers have waited, since the previous
// call: the increments DoFns add to Beam counters, so the job's totals
// come back from any runner.
func (e *Engine) ThrottleDelta() (throttled, paused, waited time.Duration) {
	st, ok := e.ThrottleStatus()
	if !ok {
		return 0, 0, 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	throttled, paused, waited = st.ThrottledFor-e.reported[0], st.PausedFor-e.reported[1], st.WaitedFor-e.reported[2]
	e.reported = [3]time.Duration{st.ThrottledFor, st.PausedFor, st.WaitedFor}
	return throttled, paused, waited
}

// ThrottleStatus is this worker's throttle status (false when the job is
// not throttled).
func (e *Engine) ThrottleStatus() (ratelimit.Status, bool) {
	if g, ok := e.Gate.(*closingGate); ok {
		return g.Status(), true
	}
	return ratelimit.Status{}, false
}

// NewProtector builds the PII protector of job: one keyset read (one KMS
// call) per worker process; nil when the job protects nothing. It fails
// closed: without the keys, no row is read.
func NewProtector(ctx context.Context, job config.Job, readFile pii.ReadFileFunc) (*pii.Protector, error) {
	if !job.PII.Enabled() {
		return nil, nil
	}
	var opts []pii.Option
	if readFile != nil {
		opts = append(opts, pii.WithReadFile(readFile))
	}
	return pii.New(ctx, job.PII, job.PIITables(), opts...)
}

// Close releases the engine; the last Close of a shared engine frees its
// statements and stops its gate.
func (e *Engine) Close() {
	enginesMu.Lock()
	defer enginesMu.Unlock()
	if e.key != "" {
		if e.refs--; e.refs > 0 {
			return
		}
		delete(engines, e.key)
	}
	e.Q.Close()
	if g, ok := e.Gate.(interface{ Close() }); ok {
		g.Close()
	}
}

// Table returns the job's table with the given source name.
func (e *Engine) Table(name string) (*config.Table, error) {
	t, ok := e.tables[name]
	if !ok {
		return nil, fmt.Errorf("table %q is not part of this job", name)
	}
	return t, nil
}

// PlanResult is what planning a table decided.
type PlanResult struct {
	// Chunks are the chunks still to copy, in key order.
	Chunks []chunking.Chunk
	// Total is the number of chunks in the table's plan; Done how many of
	// them an earlier run of the job finished.
	Total, Done int
	// Resumed says the plan was read back from the progress table.
	Resumed bool
	// Elapsed is the time spent planning (zero when resumed).
	Elapsed time.Duration
}

// Plan returns the chunks of a table still to copy. With a job ID it keeps
// the plan in the progress table (package checkpoint): the first run
// stores it, a rerun reads it back and returns only the chunks not done.
func (e *Engine) Plan(ctx context.Context, table string) (PlanResult, error) {
	ctx = target.WithRetry(ctx, e.Job.TargetRetry)
	t, err := e.Table(table)
	if err != nil {
		return PlanResult{}, err
	}
	p := &t.Plan
	keyCols := keyColumnNames(p)
	if e.Job.ID != "" {
		stored, ok, err := checkpoint.Load(ctx, e.Client, e.Job.ID, table)
		if err != nil {
			return PlanResult{}, err
		}
		if ok {
			if stored.KeyColumns != keyCols {
				return PlanResult{}, fmt.Errorf("job %s planned table %s by key (%s), the spec now says (%s); use a new --job", e.Job.ID, table, stored.KeyColumns, keyCols)
			}
			res := PlanResult{Total: len(stored.Chunks), Done: len(stored.Done), Resumed: true}
			for _, c := range stored.Chunks {
				if !stored.Done[c.ID] {
					if c, err = e.openBounds(p, c); err != nil {
						return PlanResult{}, err
					}
					res.Chunks = append(res.Chunks, c)
				}
			}
			return res, nil
		}
	}
	t0 := time.Now()
	chunks, err := chunking.Plan(ctx, e.Q, p, t.Chunking)
	if err != nil {
		return PlanResult{}, fmt.Errorf("plan %s: %w", table, sourceWindow(e.Job, err))
	}
	if e.Job.ID != "" {
		stored := make([]chunking.Chunk, len(chunks))
		for i, c := range chunks {
			if stored[i], err = e.sealBounds(p, c); err != nil {
				return PlanResult{}, err
			}
		}
		if err := checkpoint.Save(ctx, e.Client, e.Job.ID, table, keyCols, stored); err != nil {
			return PlanResult{}, fmt.Errorf("store plan of %s: %w", table, err)
		}
	}
	return PlanResult{Chunks: chunks, Total: len(chunks), Elapsed: time.Since(t0)}, nil
}

// sealBounds encrypts a chunk's key bounds (deterministically) when the
// table's key is protected, so the progress table never holds a protected
// key in clear; openBounds reverses it on resume.
func (e *Engine) sealBounds(p *schema.TablePlan, c chunking.Chunk) (chunking.Chunk, error) {
	if !e.Protect.KeyProtected(p.Target) {
		return c, nil
	}
	var err error
	if c.Lower, err = e.Protect.SealBytes(p.Target, c.Lower); err != nil {
		return c, err
	}
	c.Upper, err = e.Protect.SealBytes(p.Target, c.Upper)
	return c, err
}

func (e *Engine) openBounds(p *schema.TablePlan, c chunking.Chunk) (chunking.Chunk, error) {
	if !e.Protect.KeyProtected(p.Target) {
		return c, nil
	}
	var err error
	if c.Lower, err = e.Protect.OpenBytes(p.Target, c.Lower); err != nil {
		return c, err
	}
	c.Upper, err = e.Protect.OpenBytes(p.Target, c.Upper)
	return c, err
}

// PrintableKey renders a source key for dead letters and logs: as text,
// or as its reversible token (pii:…) when the table's key is protected.
func (e *Engine) PrintableKey(p *schema.TablePlan, k chunking.Key) (string, error) {
	if e.Protect.KeyProtected(p.Target) {
		return e.Protect.KeyToken(p.Target, k)
	}
	return chunking.FormatKey(k), nil
}

func keyColumnNames(p *schema.TablePlan) string {
	var names []string
	for _, c := range p.KeyColumns() {
		names = append(names, c.Source)
	}
	return strings.Join(names, ",")
}

// Stats is what one chunk copy did.
type Stats struct {
	Read         ReadStats
	Write        WriteStats
	DeadLettered int64
	CellsNulled  int64
}

// DeadLetterStore stores a chunk's dead letters durably; Copy calls it
// before marking the chunk done, so a finished chunk never loses them.
type DeadLetterStore func(ctx context.Context, c chunking.Chunk, dls []DeadLetter) error

// Copy copies chunk c end to end: read → convert → protect → write →
// re-validate; then it stores the chunk's dead letters and, with a job ID,
// marks the chunk done in the progress table. With a job ID it also records
// the chunk's rows so far every ProgressEvery (between pages), and stops
// between two pages with ErrStopped when the job is stopping: the pages
// already read are committed, the chunk is left for the resumed run.
func (e *Engine) Copy(ctx context.Context, c chunking.Chunk, store DeadLetterStore) (Stats, error) {
	ctx = target.WithRetry(ctx, e.Job.TargetRetry)
	t, err := e.Table(c.Table)
	if err != nil {
		return Stats{}, err
	}
	release, err := e.Hold(ctx)
	if err != nil {
		return Stats{}, err
	}
	defer release()
	started := time.Now()
	var between func(ReadStats) error
	if e.Job.ID != "" {
		if between, err = e.progress(ctx, c, started); err != nil {
			return Stats{}, err
		}
	}
	var dls []DeadLetter
	var st Stats
	if t.Plan.Interleave != nil {
		st, err = e.copyInterleaved(ctx, t, c, &dls, between)
	} else {
		st, err = e.copy(ctx, t, c, func(d DeadLetter) { dls = append(dls, d) }, between)
	}
	if err != nil {
		return st, sourceWindow(e.Job, err)
	}
	if store != nil && len(dls) > 0 {
		if err := store(ctx, c, dls); err != nil {
			return st, err
		}
	}
	if e.Job.ID != "" {
		if err := checkpoint.MarkDone(ctx, e.Client, e.Job.ID, c, st.Read.Rows, st.Write.Written, started); err != nil {
			return st, err
		}
	}
	return st, nil
}

// progress marks chunk c running (or returns ErrStopped when the job is
// stopping) and returns the reader's between-pages hook, which records the
// rows so far every ProgressEvery and stops the read when the job stops.
func (e *Engine) progress(ctx context.Context, c chunking.Chunk, started time.Time) (func(ReadStats) error, error) {
	beat := func(rows int64) error {
		if e.stopped.Load() {
			return ErrStopped
		}
		stop, err := checkpoint.ChunkProgress(ctx, e.Client, e.Job.ID, e.Job.Run, c, rows, started)
		if err != nil {
			return err
		}
		if stop {
			e.stopped.Store(true)
			return ErrStopped
		}
		return nil
	}
	if err := beat(0); err != nil {
		return nil, err
	}
	last := time.Now()
	return func(rs ReadStats) error {
		if e.stopped.Load() {
			return ErrStopped
		}
		if time.Since(last) < ProgressEvery {
			return nil
		}
		last = time.Now()
		return beat(rs.Rows)
	}, nil
}

func (e *Engine) copy(ctx context.Context, t *config.Table, c chunking.Chunk, deadLetter func(DeadLetter), between func(ReadStats) error) (Stats, error) {
	p := &t.Plan
	w := &Writer{Client: e.Client, Plan: p, Limits: e.Job.Batch, Revalidate: &Revalidator{Q: e.Q, Plan: p}}
	var st Stats
	var err error
	st.Read, err = e.read(ctx, t, c, &st, deadLetter, between, func(r Row) error { return e.scrub(p, w.Add(ctx, r)) })
	if err == nil {
		err = e.scrub(p, w.Flush(ctx))
	}
	st.Write = w.Stats
	return st, err
}

// Read reads chunk c through convert and protect — everything but the
// write — calling fn for every row that converts and dead for every row
// that must be dead-lettered. The verify job and the extraction benchmark
// use it.
func (e *Engine) Read(ctx context.Context, c chunking.Chunk, fn func(Row) error, dead func(DeadLetter)) (Stats, error) {
	t, err := e.Table(c.Table)
	if err != nil {
		return Stats{}, err
	}
	release, err := e.Hold(ctx)
	if err != nil {
		return Stats{}, err
	}
	defer release()
	var st Stats
	st.Read, err = e.read(ctx, t, c, &st, dead, nil, fn)
	return st, err
}

func (e *Engine) read(ctx context.Context, t *config.Table, c chunking.Chunk, st *Stats, dead func(DeadLetter), between func(ReadStats) error, fn func(Row) error) (ReadStats, error) {
	p := &t.Plan
	r := NewReader(e.Q, p, t.PageRows, e.Loc)
	r.Between = between
	return r.Read(ctx, c, func(row *Row) error {
		st.CellsNulled += int64(row.Nulled)
		if row.Bad != nil {
			st.DeadLettered++
			if dead != nil {
				key, err := e.PrintableKey(p, row.Key)
				if err != nil {
					return err
				}
				dead(DeadLetter{Table: p.Source, Key: key, Column: row.BadColumn, Reason: row.Bad.Reason, Chunk: c.ID})
			}
			return nil
		}
		if err := e.Protect.Protect(p.Target, row.Vals); err != nil {
			return err
		}
		return fn(*row)
	})
}

// DeadLetter is one row that could not be written, as a JSON line. Reason
// never holds the value itself.
type DeadLetter struct {
	Table  string `json:"table"`
	Key    string `json:"key"`
	Column string `json:"column"`
	Reason string `json:"reason"`
	Chunk  int    `json:"chunk"`
}

// scrub keeps Spanner's own words out of a write error when the table has
// protected columns: Spanner quotes the values it could not store ("Could
// not parse … as BYTES"), and a protected value must never reach a log.
// The status code and the table stay; the description goes.
func (e *Engine) scrub(p *schema.TablePlan, err error) error {
	if err == nil || !e.protects(p) {
		return err
	}
	switch spanner.ErrCode(err) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange, codes.AlreadyExists:
	default:
		return err // codes whose messages carry no row values
	}
	return fmt.Errorf("write to %s failed with Spanner status %s (its message is withheld because the table has PII-protected columns; see the Spanner request logs)",
		p.Target, spanner.ErrCode(err))
}

// protects says whether any column of p has a PII policy.
func (e *Engine) protects(p *schema.TablePlan) bool {
	for i := range p.Cols {
		if p.Cols[i].Protection != "" {
			return true
		}
	}
	return false
}

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", " ")
}
