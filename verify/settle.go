package verify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/livemigrate/livemigrate/rowdiff"
)

// recheckBatch bounds the keys one re-check read asks each side about.
const recheckBatch = 500

// settle re-checks a unit's first-pass differences after the settle delay
// and records in res only the persistent ones (package comment: a key
// still different is reported only when the live path has not touched it
// since the previous read of it began). began is when the unit's first
// read began.
func (v *Verifier) settle(ctx context.Context, t *table, pend *pending, began time.Time, res *Result) error {
	res.Unconfirmed = pend.over
	items := pend.items
	var persistent []finding
	if v.Settings.Rounds == 0 {
		persistent, items = items, nil
	}
	if len(items) > 0 {
		v.Log.Debug("verify: re-checking differences after the settle delay", "table", t.p.Source, "keys", len(items), "settle", v.Settings.Settle)
	}
	since := began
	for round := 1; round <= v.Settings.Rounds && len(items) > 0; round++ {
		if err := v.Sleep(ctx, v.Settings.Settle); err != nil {
			return err
		}
		start := time.Now()
		var next []finding
		err := v.probe(ctx, t, items, func(f finding, now finding, touched time.Time, dead bool) {
			switch {
			case dead:
				res.DeadLettered++ // the source row now cannot be written: nothing to compare
			case now.kind == "":
				res.Settled++
			case !touched.IsZero() && touched.After(since.Add(-clockMargin)):
				next = append(next, now) // the live path wrote it meanwhile: maybe in flight again
			default:
				persistent = append(persistent, now)
			}
		})
		if err != nil {
			return err
		}
		items, since = next, start
	}
	if v.Settings.Repair && len(persistent) > 0 {
		if err := v.repair(ctx, t, persistent, res); err != nil {
			return err
		}
	}
	for _, f := range persistent {
		d := Difference{Kind: string(f.kind), Key: v.Key(t.p.Target, f.key), Columns: f.cols, Repair: f.repair}
		switch f.kind {
		case rowdiff.Missing:
			res.Missing++
		case rowdiff.Extra:
			res.Extra++
			twin, err := v.collationTwin(ctx, t, f.key)
			if err != nil {
				return err
			}
			if twin {
				d.Note = "the source holds this key with other bytes, equal under its collation (e.g. a case change): the target's key is stale"
			}
		case rowdiff.Different:
			res.Different++
		}
		res.Diffs = append(res.Diffs, d)
	}
	for _, f := range items {
		res.Unsettled++
		note := fmt.Sprintf("still %s after %d re-checks, and the live path wrote the key during each", f.kind, v.Settings.Rounds)
		if len(f.cols) > 0 {
			note += " (columns " + strings.Join(f.cols, ", ") + ")"
		}
		res.Diffs = append(res.Diffs, Difference{Kind: Unsettled, Key: v.Key(t.p.Target, f.key), Columns: f.cols, Note: note})
	}
	return nil
}

// probe reads the keys of fs again from both sides — the source first,
// then the target's rows, then their shadow rows — and calls fn
// for each with what it finds now: the difference ("" kind when equal),
// the key's last live-write time (zero: unmarked), and whether the source
// row would now be dead-lettered.
func (v *Verifier) probe(ctx context.Context, t *table, fs []finding, fn func(was, now finding, touched time.Time, dead bool)) error {
	for len(fs) > 0 {
		n := min(len(fs), recheckBatch)
		part := fs[:n]
		fs = fs[n:]
		keys := make([][]any, n)
		for i, f := range part {
			keys[i] = f.key
		}
		src, dead, err := v.sourceRows(ctx, t, keys)
		if err != nil {
			return err
		}
		// Two strong reads, rows then marks: a live write landing between
		// them shows as a touch, which only re-checks the key again.
		dst, err := v.targetRows(ctx, v.eng.Client.Single(), t, keys)
		if err != nil {
			return err
		}
		marks, err := v.marks(ctx, v.eng.Client.Single(), t, keys)
		if err != nil {
			return err
		}
		for i, f := range part {
			e := enc(keys[i])
			now := finding{key: f.key}
			if !dead[e] {
				if now.kind, now.cols, err = v.diff(t, src[e], dst[e]); err != nil {
					return err
				}
			}
			fn(f, now, marks[e], dead[e])
		}
	}
	return nil
}
