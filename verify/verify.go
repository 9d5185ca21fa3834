package verify

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"sync"
	"time"

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
	loc    *time.Location
	mu     sync.Mutex
	tables map[string]*table
}

// table is what verify derives once from a table's plan.
type table struct {
	p        *schema.TablePlan
	pageRows int
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
	v := &Verifier{Settings: *eng.Job.Verify, Log: eng.Log, Sleep: sleep, eng: eng, loc: eng.Loc, tables: map[string]*table{}}
	if p, ok := eng.Protect.(Protection); ok {
		v.Prot = p
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
	t := &table{p: p, pageRows: ct.PageRows, keyCols: chunking.KeyColumns(p), keyNames: p.TargetKey(), cols: p.TargetColumns(),
		selects: chunking.SelectList(p), shadow: livewrite.ShadowTable(p.Target), conv: &copier.Converter{Plan: p, Loc: v.loc}}
	if t.pageRows <= 0 {
		t.pageRows = config.DefaultPageRows
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

// Chunk verifies the source rows of chunk c: read through the engine
// (convert, protect), look each page's keys up in Spanner, compare, then
// re-check the differences after the settle delay (and repair them when
// asked). It does not store the result.
func (v *Verifier) Chunk(ctx context.Context, c chunking.Chunk) (Result, error) {
	t, err := v.table(c.Table)
	if err != nil {
		return Result{}, err
	}
	res := Result{Table: c.Table, Side: SideSource, Unit: c.ID, Of: c.Of, Started: time.Now().UTC()}
	began := time.Now()
	pend := newPending(v.Settings.MaxDiffs)
	var h hash128
	batch := make([][]any, 0, t.pageRows)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		keys := make([][]any, len(batch))
		for i, row := range batch {
			keys[i] = keyOf(t, row)
		}
		dst, err := v.targetRows(ctx, v.eng.Client.Single(), t, keys)
		if err != nil {
			return err
		}
		for i, row := range batch {
			got := dst[enc(keys[i])]
			if got != nil {
				sum := sha256.Sum256(schema.CanonicalRow(got))
				h.add(sum[:16])
			}
			if kind, cols, err := v.diff(t, row, got); err != nil {
				return err
			} else if kind != "" {
				pend.add(finding{key: keys[i], kind: kind, cols: cols})
			}
		}
		res.Rows += int64(len(batch))
		batch = batch[:0]
		return nil
	}
	st, err := v.eng.Read(ctx, c, func(r copier.Row) error {
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
		if len(batch) >= t.pageRows {
			return flush()
		}
		return nil
	}, nil)
	if err == nil {
		err = flush()
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
