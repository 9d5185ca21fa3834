package verify

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"cloud.google.com/go/spanner"
	"golang.org/x/sync/errgroup"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/rowdiff"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/target"
)

// Range is one partition of a table's Spanner key space for the extras
// scan: the stored keys k with Lower <= k < Upper in Spanner's order (nil:
// unbounded). Bounds are source keys as chunk bounds hold them
// (chunking.EncodeKey of driver values), converted on the worker, so a
// Range is plain serialisable data.
type Range struct {
	Table string
	ID    int
	Of    int
	Lower []byte
	Upper []byte
}

func (r Range) String() string { return fmt.Sprintf("%s@spanner#%d/%d", r.Table, r.ID, r.Of) }

// Ranges splits a table's Spanner key space at its chunks' upper bounds,
// converted to stored keys and sorted in Spanner's order. Any sorted set of
// split points tiles the key space, so the chunk plan only balances the
// ranges; bounds that do not convert are left out.
func (v *Verifier) Ranges(table string, chunks []chunking.Chunk) ([]Range, error) {
	t, err := v.table(table)
	if err != nil {
		return nil, err
	}
	type point struct {
		raw []byte
		key []any
	}
	var pts []point
	for _, c := range chunks {
		if c.Upper == nil {
			continue
		}
		raw, err := chunking.DecodeKey(c.Upper)
		if err != nil {
			return nil, err
		}
		key, ok, err := v.storedKey(t, raw)
		if err != nil {
			return nil, err
		}
		if ok {
			pts = append(pts, point{c.Upper, key})
		}
	}
	sort.SliceStable(pts, func(i, j int) bool { return target.CompareKeys(pts[i].key, pts[j].key) < 0 })
	uniq := pts[:0]
	for _, p := range pts {
		if len(uniq) == 0 || target.CompareKeys(uniq[len(uniq)-1].key, p.key) != 0 {
			uniq = append(uniq, p)
		}
	}
	out := make([]Range, len(uniq)+1)
	for i := range out {
		out[i] = Range{Table: table, ID: i, Of: len(out)}
		if i > 0 {
			out[i].Lower = uniq[i-1].raw
		}
		if i < len(uniq) {
			out[i].Upper = uniq[i].raw
		}
	}
	return out, nil
}

// PlanRanges returns the ranges of a table still to scan in this job: the
// ranges of the job's stored chunk plan, less those already finished. A
// --since run scans no ranges of a table with a version column (it checks
// recent source rows only).
func (v *Verifier) PlanRanges(ctx context.Context, table string) ([]Range, error) {
	t, err := v.table(table)
	if err != nil {
		return nil, err
	}
	if t.since != nil {
		return nil, nil
	}
	job := v.eng.Job.ID
	if job == "" {
		return nil, fmt.Errorf("verify: planning ranges needs a job id")
	}
	plan, ok, err := checkpoint.Load(ctx, v.eng.Client, job, table)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("job %s has no stored plan of table %s", job, table)
	}
	all, err := v.Ranges(table, plan.Chunks)
	if err != nil {
		return nil, err
	}
	done, err := doneUnits(ctx, v.eng.Client, job, table, SideTarget)
	if err != nil {
		return nil, err
	}
	var out []Range
	for _, r := range all {
		if !done[r.ID] {
			out = append(out, r)
		}
	}
	return out, nil
}

// keyRange is r as a Spanner key range.
func (v *Verifier) keyRange(t *table, r Range) (spanner.KeySet, error) {
	bound := func(b []byte) (spanner.Key, error) {
		if b == nil {
			return nil, nil
		}
		raw, err := chunking.DecodeKey(b)
		if err != nil {
			return nil, err
		}
		k, ok, err := v.storedKey(t, raw)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("range %s: a bound does not convert", r)
		}
		return spannerKey(k), nil
	}
	lo, err := bound(r.Lower)
	if err != nil {
		return nil, err
	}
	hi, err := bound(r.Upper)
	if err != nil {
		return nil, err
	}
	switch {
	case lo == nil && hi == nil:
		return spanner.AllKeys(), nil
	case lo == nil:
		return spanner.KeyRange{Start: spanner.Key{}, End: hi, Kind: spanner.ClosedOpen}, nil
	case hi == nil:
		return spanner.KeyRange{Start: lo, End: spanner.Key{}, Kind: spanner.ClosedClosed}, nil
	}
	return spanner.KeyRange{Start: lo, End: hi, Kind: spanner.ClosedOpen}, nil
}

// CheckRange scans the stored keys of range r (key columns only) and asks
// the source, a batch at a time, which it holds exactly; the others are
// extra, re-checked after the settle delay like any difference.
func (v *Verifier) CheckRange(ctx context.Context, r Range) (Result, error) {
	t, err := v.table(r.Table)
	if err != nil {
		return Result{}, err
	}
	res := Result{Table: r.Table, Side: SideTarget, Unit: r.ID, Of: r.Of, Started: time.Now().UTC()}
	began := time.Now()
	ks, err := v.keyRange(t, r)
	if err != nil {
		return res, err
	}
	pend := newPending(v.Settings.MaxDiffs)
	// The range's read and lookups take one of the process's in-flight
	// slots (as a chunk's read does); the settle wait does not need one.
	release, err := v.eng.Hold(ctx)
	if err != nil {
		return res, err
	}
	defer release()
	var mu sync.Mutex // guards pend, res.Rows
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
			has, err := v.sourceHas(gctx, t, b)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, k := range b {
				if !has[enc(k)] {
					pend.add(finding{key: k, kind: rowdiff.Extra})
				}
			}
			res.Rows += int64(len(b))
			return nil
		})
	}
	err = v.eng.Client.Single().Read(gctx, t.p.Target, ks, t.keyNames).Do(func(row *spanner.Row) error {
		k, err := schema.DecodeKey(row, t.p)
		if err != nil {
			return err
		}
		batch = append(batch, []any(k))
		if len(batch) >= t.batch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if werr := g.Wait(); werr != nil {
		err = werr
	}
	release()
	if err != nil {
		return res, fmt.Errorf("verify %s: %w", r, err)
	}
	if err := v.settle(ctx, t, pend, began, &res); err != nil {
		return res, fmt.Errorf("verify %s: %w", r, err)
	}
	res.Ended = time.Now().UTC()
	return res, nil
}
