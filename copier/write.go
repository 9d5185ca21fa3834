package copier

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"

	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/livewrite"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/target"
)

// WriteStats counts what the writer did. Every row handed to the writer is
// counted exactly once in Written, SkippedExisted, SkippedNewer or
// SkippedTombstoned; Removed counts written rows re-validation took back.
type WriteStats struct {
	Written           int64 // rows inserted (or, in version mode, overwritten)
	SkippedExisted    int64 // key present in Spanner: a live write or an earlier run
	SkippedNewer      int64 // version mode: Spanner holds a version not older than the row's
	SkippedTombstoned int64 // the live path deleted the key: never resurrect it
	Revalidated       int64 // written rows whose key was checked against the source again
	Removed           int64 // written rows deleted again because the source no longer has the key
	Commits           int64
}

// Write modes. WriteBlindUnsafe is not accepted by the spec: it exists for
// the chaos test's negative control, which shows what the guard prevents.
const (
	WriteInsertIfAbsent = "insert-if-absent"
	WriteVersion        = "version"
	WriteBlindUnsafe    = "blind-insert-or-update"
)

// Writer batches rows of one table into read-write transactions that never
// overwrite a newer live write and never resurrect a deleted row (see the
// package comment for the argument). In the transaction it reads the
// batch's keys in the data table and in its shadow table (livewrite), then:
//
//   - insert-if-absent (default): inserts keys that are absent and not
//     tombstoned;
//   - version: also overwrites a row the live path has not touched (no
//     shadow row) whose stored version is older than the row's.
//
// After the commit, Revalidate (when set) asks the source which written
// keys still exist and conditionally removes the others.
type Writer struct {
	Client *spanner.Client
	Plan   *schema.TablePlan
	Limits config.Batch
	// Mode overrides Plan.WriteMode when set.
	Mode       string
	Revalidate *Revalidator

	// afterPrefilter, when set (tests only), runs between the prefilter's
	// reads and the read-write transaction: where a live write can race us.
	afterPrefilter func()

	cols      []string
	keyCols   []string
	shadow    string
	shadowCol []string
	mode      string
	mutPerRow int
	// skipPrefilter counts the batches still to write without the
	// prefilter (usePrefilter).
	skipPrefilter int
	prefilters    int // batches that ran the prefilter (tests)
	buf           []Row
	bytes         int64
	Stats         WriteStats
}

func (w *Writer) init() {
	if w.cols != nil {
		return
	}
	w.Limits = withDefaults(w.Limits)
	w.cols = w.Plan.TargetColumns()
	w.keyCols = w.Plan.TargetKey()
	w.shadow = livewrite.ShadowTable(w.Plan.Target)
	w.shadowCol = append(append([]string{}, w.keyCols...), livewrite.ColDeleted)
	w.mode = w.Mode
	if w.mode == "" {
		w.mode = w.Plan.WriteMode
	}
	if w.mode == "" {
		w.mode = WriteInsertIfAbsent
	}
	// Every column of every index of the row is a mutation; re-validation
	// adds a tombstone per removed row in a transaction of its own.
	w.mutPerRow = len(w.cols) * (1 + len(w.Plan.Table.Indexes))
}

// Add buffers a row and commits when a limit is reached.
func (w *Writer) Add(ctx context.Context, r Row) error {
	w.init()
	if len(w.buf) > 0 && (len(w.buf)+1 > w.Limits.Rows ||
		(len(w.buf)+1)*w.mutPerRow > w.Limits.Mutations ||
		w.bytes+r.Bytes > w.Limits.Bytes) {
		if err := w.Flush(ctx); err != nil {
			return err
		}
	}
	w.buf = append(w.buf, r)
	w.bytes += r.Bytes
	return nil
}

// batchOutcome is what one attempt of the batch transaction decided.
type batchOutcome struct {
	written                    []int // indexes into buf
	existed, newer, tombstoned int64
}

// Flush commits the buffered rows, then re-validates what it wrote.
func (w *Writer) Flush(ctx context.Context) error {
	w.init()
	if len(w.buf) == 0 {
		return nil
	}
	keys := make([]spanner.Key, len(w.buf))
	keyStr := make([]string, len(w.buf))
	for i, r := range w.buf {
		keys[i] = w.spannerKey(r)
		keyStr[i] = schema.KeyString(keys[i])
	}
	var out batchOutcome
	var err error
	if w.mode == WriteBlindUnsafe {
		out, err = w.blind(ctx)
	} else {
		out, err = w.guarded(ctx, keys, keyStr)
	}
	if err != nil {
		return fmt.Errorf("write %d rows to %s: %w", len(w.buf), w.Plan.Target, err)
	}
	w.Stats.Written += int64(len(out.written))
	w.Stats.SkippedExisted += out.existed
	w.Stats.SkippedNewer += out.newer
	w.Stats.SkippedTombstoned += out.tombstoned
	w.Stats.Commits++
	if w.Revalidate != nil && w.mode != WriteBlindUnsafe && len(out.written) > 0 {
		if err := w.revalidate(ctx, out.written, keys, keyStr); err != nil {
			return fmt.Errorf("re-validate %d rows of %s: %w", len(out.written), w.Plan.Target, err)
		}
	}
	w.buf = w.buf[:0]
	w.bytes = 0
	return nil
}

func (w *Writer) spannerKey(r Row) spanner.Key {
	k := make(spanner.Key, len(w.Plan.Key))
	for j, ki := range w.Plan.Key {
		k[j] = target.KeyPart(r.Vals[ki])
	}
	return k
}

// guarded is the insert-if-absent / version write of a batch, in two
// steps. First strong reads outside any read-write transaction read the
// batch's keys (with versions in version mode) and shadow rows
// and settles every row whose fate it already decides: a key present in
// those reads (insert-if-absent), tombstoned, or live-marked stays as it
// is whatever happens later — a present row only ever leaves Spanner with
// a tombstone, and marks and tombstones are never removed while a backfill
// runs — and in version mode a stored version not older than the row's is
// kept. Only the remaining candidates go into the read-write transaction,
// which re-reads just what can still change under it: the candidates'
// shadow rows (and, in version mode, their stored versions), as one range
// when the key is made of integers (target.CoveringRange), else by key. So
// on a rerun the transaction often does not run at all, and on a first run,
// where the prefilter settles nothing and is soon skipped (usePrefilter),
// a batch costs one range read and the commit.
//
// In insert-if-absent mode a candidate is written with InsertOrUpdate: the
// transaction does not read the data row, and the only writer that can
// have inserted an unmarked row since those reads is another copy of the
// backfill (a retried bundle), whose row was read from MySQL as ours was —
// any MySQL change after either read reaches Spanner through the live path,
// which marks the key and wins (see the package comment).
func (w *Writer) guarded(ctx context.Context, keys []spanner.Key, keyStr []string) (batchOutcome, error) {
	version := w.mode == WriteVersion && w.Plan.VersionColumn >= 0
	var out batchOutcome
	var cand []int
	var err error
	if w.usePrefilter() {
		out, cand, err = w.prefilter(ctx, keys, keyStr, version)
		if err != nil || len(cand) == 0 {
			return out, err
		}
		w.prefiltered(len(cand) == len(keys))
	} else {
		out, cand = w.dedupBatch(keyStr)
	}
	if w.afterPrefilter != nil {
		w.afterPrefilter()
	}
	settled := out
	candKeys := make([]spanner.Key, len(cand))
	for j, i := range cand {
		candKeys[j] = keys[i]
	}
	_, err = target.ReadWrite(ctx, w.Client, func(ctx context.Context, txn *spanner.ReadWriteTransaction) error {
		out = settled
		out.written = nil
		ks := keySet(candKeys)
		shadow, err := w.readShadow(ctx, txn, ks)
		if err != nil {
			return err
		}
		var stored map[string]any
		if version {
			if stored, err = w.readData(ctx, txn, ks, true); err != nil {
				return err
			}
		}
		muts := make([]*spanner.Mutation, 0, len(cand))
		for _, i := range cand {
			r := w.buf[i]
			deleted, marked := shadow[keyStr[i]]
			switch {
			case marked && deleted:
				out.tombstoned++
			case marked:
				// The live path wrote this key since the prefilter: it is
				// the authority.
				out.existed++
			case !version:
				muts = append(muts, spanner.InsertOrUpdate(w.Plan.Target, w.cols, r.Vals))
				out.written = append(out.written, i)
			default:
				sv, present := stored[keyStr[i]]
				if !present {
					muts = append(muts, spanner.Insert(w.Plan.Target, w.cols, r.Vals))
					out.written = append(out.written, i)
					continue
				}
				older, err := olderVersion(sv, r.Vals[w.Plan.VersionColumn])
				if err != nil {
					return fmt.Errorf("version column %s: %w", w.cols[w.Plan.VersionColumn], err)
				}
				if !older {
					out.newer++
					continue
				}
				muts = append(muts, spanner.Update(w.Plan.Target, w.cols, r.Vals))
				out.written = append(out.written, i)
			}
		}
		return txn.BufferWrite(muts)
	})
	return out, err
}

// keySet is what the writer reads for keys: one covering range when the
// keys are integers (target.CoveringRange: the emulator scans a range once
// where it looks up a key set key by key), else the keys themselves. The
// reads look rows up by key, so a row in the range but not in the batch
// is simply not asked for.
func keySet(keys []spanner.Key) spanner.KeySet {
	if r, ok := target.CoveringRange(keys); ok {
		return r
	}
	return spanner.KeySetFromKeys(keys...)
}

// Without the prefilter (see usePrefilter) a batch's rows are all
// candidates but for a key given twice.
func (w *Writer) dedupBatch(keyStr []string) (batchOutcome, []int) {
	var out batchOutcome
	cand := make([]int, 0, len(keyStr))
	seen := make(map[string]bool, len(keyStr))
	for i, k := range keyStr {
		if seen[k] {
			out.existed++
			continue
		}
		seen[k] = true
		cand = append(cand, i)
	}
	return out, cand
}

// reprobeEvery is how many batches a writer goes without the prefilter
// after one that settled nothing, before it tries it again.
const reprobeEvery = 16

// usePrefilter says whether this batch runs the prefilter. The prefilter
// pays only where rows are already there or marked (a rerun, a resumed
// chunk, a table the live path has touched a lot); on a first copy it
// settles nothing and costs two reads of every key, which on the emulator
// cost more than the commit. So after a prefilter that left every row a
// candidate, the next reprobeEvery-1 batches of this writer go straight to
// the read-write transaction, which checks every candidate's shadow row
// anyway: the guarantee is the transaction's, never the prefilter's. (An
// unmarked row an earlier run wrote is then written again with what the
// source holds now: the same rule as for a candidate a duplicate bundle
// inserted meanwhile.)
func (w *Writer) usePrefilter() bool {
	if w.skipPrefilter > 0 {
		w.skipPrefilter--
		return false
	}
	w.prefilters++
	return true
}

// prefiltered records whether a prefilter left every row a candidate.
func (w *Writer) prefiltered(useless bool) {
	if useless {
		w.skipPrefilter = reprobeEvery - 1
	}
}

// prefilter reads the batch's keys and shadow rows with strong reads
// outside any read-write transaction and returns the outcome of the rows it settles and the indexes
// (into buf) of the candidates left for the read-write transaction.
func (w *Writer) prefilter(ctx context.Context, keys []spanner.Key, keyStr []string, version bool) (batchOutcome, []int, error) {
	var out batchOutcome
	// Two single-use reads, not one snapshot: every fact they settle is
	// monotonic (present stays present or becomes tombstoned; a mark stays),
	// so it holds from its own read on, whatever the other read saw. (A
	// multi-use read-only transaction would also be invalidated by the
	// emulator whenever a read-write transaction begins.)
	// The two reads run side by side: one round trip of latency per batch.
	ks := keySet(keys)
	var shadow map[string]bool
	var shadowErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		shadow, shadowErr = w.readShadow(ctx, w.Client.Single(), ks)
	}()
	stored, err := w.readData(ctx, w.Client.Single(), ks, version)
	<-done
	if err != nil {
		return out, nil, err
	}
	if shadowErr != nil {
		return out, nil, shadowErr
	}
	cand := make([]int, 0, len(keys))
	seen := make(map[string]bool, len(keys))
	for i := range w.buf {
		deleted, marked := shadow[keyStr[i]]
		sv, present := stored[keyStr[i]]
		switch {
		case seen[keyStr[i]]:
			// A key twice in one batch cannot come from a keyset read;
			// never write it twice.
			out.existed++
		case marked && deleted:
			out.tombstoned++
		case marked || (present && !version):
			// The live path wrote this key (it is the authority), or
			// insert-if-absent found it present.
			out.existed++
		case present:
			older, err := olderVersion(sv, w.buf[i].Vals[w.Plan.VersionColumn])
			if err != nil {
				return out, nil, fmt.Errorf("version column %s: %w", w.cols[w.Plan.VersionColumn], err)
			}
			if older {
				cand = append(cand, i)
			} else {
				out.newer++
			}
		default:
			cand = append(cand, i)
		}
		seen[keyStr[i]] = true
	}
	return out, cand, nil
}

// blind writes every row with InsertOrUpdate: the unsafe behaviour of a
// bulk loader next to live writes, kept only as the negative control.
func (w *Writer) blind(ctx context.Context) (batchOutcome, error) {
	var out batchOutcome
	muts := make([]*spanner.Mutation, len(w.buf))
	for i, r := range w.buf {
		muts[i] = spanner.InsertOrUpdate(w.Plan.Target, w.cols, r.Vals)
		out.written = append(out.written, i)
	}
	_, err := target.ReadWrite(ctx, w.Client, func(ctx context.Context, txn *spanner.ReadWriteTransaction) error {
		// One read first, so the transaction begins inline: mutation-only
		// commits begin explicitly, which the emulator mishandles on
		// multiplexed sessions (cloud-spanner-emulator#282).
		if _, err := txn.ReadRow(ctx, w.Plan.Target, w.spannerKey(w.buf[0]), w.keyCols); err != nil && spanner.ErrCode(err) != codes.NotFound {
			return err
		}
		return txn.BufferWrite(muts)
	})
	return out, err
}

// keyReader is what both transaction kinds offer for reading rows by key.
type keyReader interface {
	Read(ctx context.Context, table string, keys spanner.KeySet, columns []string) *spanner.RowIterator
}

// readData returns the present keys, with the stored version when asked.
func (w *Writer) readData(ctx context.Context, txn keyReader, ks spanner.KeySet, version bool) (map[string]any, error) {
	cols := w.keyCols
	if version {
		cols = append(append([]string{}, w.keyCols...), w.cols[w.Plan.VersionColumn])
	}
	out := map[string]any{}
	err := txn.Read(ctx, w.Plan.Target, ks, cols).Do(func(row *spanner.Row) error {
		k, err := schema.DecodeKey(row, w.Plan)
		if err != nil {
			return err
		}
		var v any
		if version {
			if v, err = schema.DecodeCell(row, len(w.keyCols), w.Plan.Cols[w.Plan.VersionColumn].Mapping.Stored()); err != nil {
				return err
			}
		}
		out[schema.KeyString(k)] = v
		return nil
	})
	return out, err
}

// readShadow returns the keys the live path has marked: true = tombstone.
func (w *Writer) readShadow(ctx context.Context, txn keyReader, ks spanner.KeySet) (map[string]bool, error) {
	out := map[string]bool{}
	err := txn.Read(ctx, w.shadow, ks, w.shadowCol).Do(func(row *spanner.Row) error {
		k, err := schema.DecodeKey(row, w.Plan)
		if err != nil {
			return err
		}
		var del bool
		if err := row.Column(len(w.keyCols), &del); err != nil {
			return err
		}
		out[schema.KeyString(k)] = del
		return nil
	})
	if err != nil && spanner.ErrCode(err) == codes.NotFound && strings.Contains(spanner.ErrDesc(err), w.shadow) {
		return nil, fmt.Errorf("shadow table %s is missing: run `livemigrate plan --apply` (it creates the tombstone tables the backfill and the live path share)", w.shadow)
	}
	return out, err
}

// OlderVersion reports whether version a is older than version b, by the
// rule the version write mode uses (NULL is older than any value; equal is
// not older). verify's --since filter asks it.
func OlderVersion(a, b any) (bool, error) { return olderVersion(a, b) }

// olderVersion reports whether the stored version is older than the
// incoming one. NULL is older than any value; equal is not older.
func olderVersion(stored, incoming any) (bool, error) {
	if incoming == nil {
		return false, nil
	}
	if stored == nil {
		return true, nil
	}
	switch in := incoming.(type) {
	case int64:
		s, ok := stored.(int64)
		return ok && s < in, typeErr(ok, stored, incoming)
	case float32:
		s, ok := stored.(float32)
		return ok && s < in, typeErr(ok, stored, incoming)
	case float64:
		s, ok := stored.(float64)
		return ok && s < in, typeErr(ok, stored, incoming)
	case string:
		s, ok := stored.(string)
		return ok && s < in, typeErr(ok, stored, incoming)
	case time.Time:
		s, ok := stored.(time.Time)
		return ok && s.Before(in), typeErr(ok, stored, incoming)
	case civil.Date:
		s, ok := stored.(civil.Date)
		return ok && s.Before(in), typeErr(ok, stored, incoming)
	case *big.Rat:
		s, ok := stored.(*big.Rat)
		return ok && s.Cmp(in) < 0, typeErr(ok, stored, incoming)
	case schema.Numeric:
		s, ok := stored.(*big.Rat)
		return ok && s.Cmp(in.Rat()) < 0, typeErr(ok, stored, incoming)
	}
	return false, fmt.Errorf("values of type %T cannot order versions; use an integer, timestamp, date, numeric or string column", incoming)
}

func typeErr(ok bool, stored, incoming any) error {
	if ok {
		return nil
	}
	return fmt.Errorf("stored version is %T, the row's %T", stored, incoming)
}

// withDefaults fills zero limits with config's defaults and keeps every
// limit inside Spanner's (a resolved job already satisfies both; tests and
// the benchmark may leave fields zero).
func withDefaults(b config.Batch) config.Batch {
	if b.Rows <= 0 {
		b.Rows = config.DefaultBatch.Rows
	}
	if b.Mutations <= 0 || b.Mutations > config.SpannerMaxMutations {
		b.Mutations = config.DefaultBatch.Mutations
	}
	if b.Bytes <= 0 || b.Bytes > config.SpannerMaxBytes/2 {
		b.Bytes = config.DefaultBatch.Bytes
	}
	return b
}
