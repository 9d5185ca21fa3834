package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/copier"
	"github.com/livemigrate/livemigrate/livewrite"
	"github.com/livemigrate/livemigrate/rowdiff"
	"github.com/livemigrate/livemigrate/schema"
)

// Verifier checks the units of one verify job in one worker process. It
// holds no resources of its own: the engine's Querier (throttle, retry),
// Spanner client and protector do the work.
type Verifier struct {
	Settings config.Verify
	// Prot reveals and tokenises protected cells inside the worker; nil
	// when the engine's protector protects nothing.
	Prot Protection
	Log  *slog.Logger
	// Sleep waits the settle delay, watching the context.
	Sleep func(ctx context.Context, d time.Duration) error

	eng    *copier.Engine
	flight chan struct{}
	loc    *time.Location
	mu     sync.Mutex
	tables map[string]*table
}

// table is what verify derives once from a table's plan.
type table struct {
	p        *schema.TablePlan
	batch    int // keys per Spanner lookup or source existence check
	keyCols  []chunking.KeyColumn
	keyNames []string // target key columns
	cols     []string // target columns
	selects  string
	shadow   string
	conv     *copier.Converter
	since    any // nil: no --since filter
}

// clockMargin widens "touched since the read began" for clocks that
// disagree between workers and Spanner: a wider window only re-checks more.
const clockMargin = 2 * time.Second

// New returns a verifier over the process's engine for a verify job.
func New(eng *copier.Engine) (*Verifier, error) {
	if eng.Job.Verify == nil {
		return nil, fmt.Errorf("verify: the job has no verify settings")
	}
	v := &Verifier{Settings: *eng.Job.Verify, Log: eng.Log, Sleep: sleep, eng: eng, flight: flight(eng), loc: eng.Loc, tables: map[string]*table{}}
	if eng.Protect.Enabled() {
		v.Prot = eng.Protect
	}
	if v.Log == nil {
		v.Log = slog.Default()
	}
	return v, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (v *Verifier) table(name string) (*table, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if t, ok := v.tables[name]; ok {
		return t, nil
	}
	ct, err := v.eng.Table(name)
	if err != nil {
		return nil, err
	}
	p := &ct.Plan
	t := &table{p: p, batch: min(ct.PageRows, maxLookup), keyCols: chunking.KeyColumns(p), keyNames: p.TargetKey(), cols: p.TargetColumns(),
		selects: chunking.SelectList(p), shadow: livewrite.ShadowTable(p.Target), conv: &copier.Converter{Plan: p, Loc: v.loc}}
	if t.batch <= 0 {
		t.batch = min(config.DefaultPageRows, maxLookup)
	}
	if v.Settings.Since != "" {
		if t.since, err = SinceValue(p, v.Settings.Since, v.Settings.Now, v.loc); err != nil {
			return nil, err
		}
	}
	v.tables[name] = t
	return t, nil
}

// finding is one differing key as last seen.
type finding struct {
	key    []any // stored form
	kind   rowdiff.Kind
	cols   []string
	repair string
}

// pending is a unit's bounded list of differing keys awaiting the
// re-check.
type pending struct {
	max   int
	items []finding
	over  int64 // differences beyond max: counted, not kept
	known map[string]bool
}

func newPending(max int) *pending { return &pending{max: max, known: map[string]bool{}} }

func (p *pending) add(f finding) {
	e := enc(f.key)
	if p.known[e] {
		return
	}
	if len(p.items) >= p.max {
		p.over++
		return
	}
	p.known[e] = true
	p.items = append(p.items, f)
}

// lookupsInFlight bounds the batched Spanner reads (or source lookups) one
// unit has in flight: they overlap each other and the unit's own read.
// processLookups bounds them for the whole worker process, so its memory
// stays bounded by that many pages however many units the runner runs at
// once, and so whatever the table size.
const (
	lookupsInFlight = 4
	processLookups  = 8
	// maxLookup bounds the keys of one lookup (the page size when smaller):
	// a smaller batch keeps less in flight for the same overlap.
	maxLookup = 1000
)

var (
	flightMu sync.Mutex
	flights  = map[*copier.Engine]chan struct{}{}
)

// flight is the process-wide lookup semaphore of an engine (one per job
// and process, like the engine itself).
func flight(e *copier.Engine) chan struct{} {
	flightMu.Lock()
	defer flightMu.Unlock()
	f, ok := flights[e]
	if !ok {
		f = make(chan struct{}, processLookups)
		flights[e] = f
	}
	return f
}

// goLookup runs fn in g once the process has a lookup slot free, blocking
// the caller (the unit's reader) until then.
func (v *Verifier) goLookup(ctx context.Context, g *errgroup.Group, fn func() error) error {
	select {
	case v.flight <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.Go(func() error {
		defer func() { <-v.flight }()
		return fn()
	})
	return nil
}

// Chunk verifies the source rows of chunk c: read through the engine
// (convert, protect), look each page's keys up in Spanner (a few pages in
// flight), compare, then re-check the differences after the settle delay
// (and repair them when asked). It does not store the result.
func (v *Verifier) Chunk(ctx context.Context, c chunking.Chunk) (Result, error) {
	t, err := v.table(c.Table)
	if err != nil {
		return Result{}, err
	}
	res := Result{Table: c.Table, Side: SideSource, Unit: c.ID, Of: c.Of, Started: time.Now().UTC()}
	began := time.Now()
	pend := newPending(v.Settings.MaxDiffs)
	var h hash128
	var mu sync.Mutex // guards pend, h, res.Rows
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(lookupsInFlight)
	batch := make([][]any, 0, t.batch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		b := batch
		batch = make([][]any, 0, t.batch)
		return v.goLookup(gctx, g, func() error {
			found, sum, err := v.lookup(gctx, t, b)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, f := range found {
				pend.add(f)
			}
			h.addSum(sum)
			res.Rows += int64(len(b))
			return nil
		})
	}
	st, err := v.eng.Read(gctx, c, func(r copier.Row) error {
		if t.since != nil {
			older, err := v.olderThanSince(t, r.Vals)
			if err != nil {
				return err
			}
			if older {
				res.SkippedOlder++
				return nil
			}
		}
		batch = append(batch, r.Vals)
		if len(batch) >= t.batch {
			return flush()
		}
		return nil
	}, nil)
	if err == nil {
		err = flush()
	}
	if werr := g.Wait(); werr != nil {
		err = werr
	}
	if err != nil {
		return res, fmt.Errorf("verify %s: %w", c, err)
	}
	res.DeadLettered = st.DeadLettered
	res.Hash = h.String()
	if err := v.settle(ctx, t, pend, began, &res); err != nil {
		return res, fmt.Errorf("verify %s: %w", c, err)
	}
	res.Ended = time.Now().UTC()
	return res, nil
}

// lookup reads the stored rows of a batch of source rows from Spanner (one
// KeySet of exactly their keys) and compares each pair. It returns the
// differing keys and the hash sum of the target rows found.
func (v *Verifier) lookup(ctx context.Context, t *table, batch [][]any) ([]finding, hash128, error) {
	var sum hash128
	keys := make([][]any, len(batch))
	for i, row := range batch {
		keys[i] = keyOf(t, row)
	}
	dst, err := v.targetRows(ctx, v.eng.Client.Single(), t, keys)
	if err != nil {
		return nil, sum, err
	}
	var out []finding
	var ea, eb []byte
	for i, src := range batch {
		got := dst[enc(keys[i])]
		if got == nil {
			out = append(out, finding{key: keys[i], kind: rowdiff.Missing})
			continue
		}
		// One encoding of each cell serves the comparison and the hash.
		var cols []string
		eb = eb[:0]
		for j := range t.p.Cols {
			ea = schema.AppendCanonical(ea[:0], src[j])
			n := len(eb)
			eb = schema.AppendCanonical(eb, got[j])
			if !bytes.Equal(ea, eb[n:]) {
				cols = append(cols, t.p.Cols[j].Target)
			}
		}
		d := sha256.Sum256(eb)
		sum.add(d[:16])
		if len(cols) == 0 {
			continue
		}
		kind, cols, err := v.diff(t, src, got)
		if err != nil {
			return nil, sum, err
		}
		if kind != "" {
			out = append(out, finding{key: keys[i], kind: kind, cols: cols})
		}
	}
	return out, sum, nil
}

// diff compares a source row and a target row of one key (nil: absent)
// by their canonical encodings; where the rows differ only in protected
// cells it compares their revealed plaintexts, inside the worker (AEAD
// ciphertexts differ on every write).
func (v *Verifier) diff(t *table, src, dst []any) (rowdiff.Kind, []string, error) {
	kind, cols := rowdiff.Row(t.p, src, dst)
	if kind != rowdiff.Different || v.Prot == nil {
		return kind, cols, nil
	}
	a, b := append([]any(nil), src...), append([]any(nil), dst...)
	if err := v.Prot.Reveal(t.p.Target, a); err != nil {
		return "", nil, err
	}
	if err := v.Prot.Reveal(t.p.Target, b); err != nil {
		return "", nil, err
	}
	kind, cols = rowdiff.Row(t.p, a, b)
	return kind, cols, nil
}

// olderThanSince reports whether a row's version is before --since (a
// NULL version counts as older: it cannot be recent).
func (v *Verifier) olderThanSince(t *table, row []any) (bool, error) {
	ver := row[t.p.VersionColumn]
	if ver == nil {
		return true, nil
	}
	older, err := copier.OlderVersion(ver, t.since)
	if err != nil {
		return false, fmt.Errorf("--since on %s: %w", t.p.Source, err)
	}
	return older, nil
}

// Finish stores a unit's result, and for a source chunk marks it done in
// the progress table, so a rerun of the job skips it.
func (v *Verifier) Finish(ctx context.Context, c *chunking.Chunk, r Result) error {
	if v.eng.Job.ID == "" {
		return nil
	}
	if err := SaveUnit(ctx, v.eng.Client, v.eng.Job.ID, r); err != nil {
		return err
	}
	if c != nil {
		return checkpoint.MarkDone(ctx, v.eng.Client, v.eng.Job.ID, *c, r.Rows, r.Repaired, r.Started)
	}
	return nil
}
