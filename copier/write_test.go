package copier_test

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"testing"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/copier"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/livewrite"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/source"
	"github.com/livemigrate/livemigrate/spec"
	"github.com/livemigrate/livemigrate/target"
)

// wenv is one race test's fixture: table kv (id BIGINT PK, v, ver) in a
// private MySQL database, its Spanner table and shadow table, the backfill's
// resources and a live writer.
type wenv struct {
	env    *testenv.Env
	db     *sql.DB
	client *spanner.Client
	plan   *schema.TablePlan
	live   *livewrite.Writer
}

const kvTable = "kv"

func newWEnv(t *testing.T, mode string, rows ...string) *wenv {
	t.Helper()
	ctx := context.Background()
	env := testenv.New(t)
	env.Exec(t, "CREATE TABLE kv (id BIGINT NOT NULL PRIMARY KEY, v VARCHAR(20) NULL, ver BIGINT NOT NULL)")
	for _, r := range rows {
		env.Exec(t, "INSERT INTO kv (id, v, ver) VALUES "+r)
	}
	tbl, err := schema.Introspect(ctx, env.MySQL, env.Name, kvTable)
	if err != nil {
		t.Fatalf("introspect: %v", err)
	}
	st := spec.Table{Source: kvTable, WriteMode: mode}
	if mode == spec.WriteVersion {
		st.VersionColumn = "ver"
	}
	p, err := config.BuildPlan(st, spec.Defaults{}, tbl)
	if err != nil {
		t.Fatalf("build plan: %v", err)
	}
	ddl := append(append([]string{p.CreateTableDDL()}, p.IndexDDL()...), livewrite.DDL([]schema.TablePlan{*p}, nil)...)
	if err := target.ApplyDDL(ctx, env.SpannerDB, ddl); err != nil {
		t.Fatalf("create Spanner tables: %v", err)
	}
	w := &wenv{env: env, plan: p}
	if w.db, err = source.Open(ctx, env.Spec().Source); err != nil {
		t.Fatalf("open source: %v", err)
	}
	t.Cleanup(func() { w.db.Close() })
	if w.client, err = target.Client(ctx, env.SpannerDB); err != nil {
		t.Fatal(err)
	}
	if w.live, err = livewrite.New(w.client, livewrite.TableFromPlan(p)); err != nil {
		t.Fatal(err)
	}
	return w
}

// copyAll runs the backfill's data path over the whole table (one
// unbounded chunk).
func (w *wenv) copyAll(t *testing.T) copier.WriteStats {
	t.Helper()
	ctx := context.Background()
	eng := w.engine(t)
	st, err := eng.Copy(ctx, chunking.Chunk{Table: kvTable, ID: 0, Of: 1}, func(_ context.Context, _ chunking.Chunk, dls []copier.DeadLetter) error {
		t.Errorf("unexpected dead letters: %+v", dls)
		return nil
	})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	return st.Write
}

// engine builds the backfill's engine over the fixture's resources.
func (w *wenv) engine(t *testing.T) *copier.Engine {
	t.Helper()
	eng, err := copier.New(context.Background(), config.Job{Source: w.env.Spec().Source, Database: w.env.SpannerDB,
		Tables: []config.Table{{Plan: *w.plan, PageRows: 100}}}, w.db, w.client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	return eng
}

// row is a Spanner row of kv; present=false when absent.
type row struct {
	present bool
	v       spanner.NullString
	ver     int64
}

func (w *wenv) get(t *testing.T, id int64) row {
	t.Helper()
	r, err := w.client.Single().ReadRow(context.Background(), kvTable, spanner.Key{id}, []string{"v", "ver"})
	if spanner.ErrCode(err) == codes.NotFound {
		return row{}
	}
	if err != nil {
		t.Fatalf("read kv %d: %v", id, err)
	}
	out := row{present: true}
	if err := r.Columns(&out.v, &out.ver); err != nil {
		t.Fatal(err)
	}
	return out
}

// shadow returns the key's shadow row: marked, and whether it is a tombstone.
func (w *wenv) shadow(t *testing.T, id int64) (marked, deleted bool) {
	t.Helper()
	r, err := w.client.Single().ReadRow(context.Background(), livewrite.ShadowTable(kvTable), spanner.Key{id}, []string{livewrite.ColDeleted})
	if spanner.ErrCode(err) == codes.NotFound {
		return false, false
	}
	if err != nil {
		t.Fatalf("read shadow %d: %v", id, err)
	}
	if err := r.Columns(&deleted); err != nil {
		t.Fatal(err)
	}
	return true, deleted
}

// all reads every row of kv in key order.
func (w *wenv) all(t *testing.T) []string {
	t.Helper()
	var out []string
	err := w.client.Single().Read(context.Background(), kvTable, spanner.AllKeys(), []string{"id", "v", "ver"}).Do(func(r *spanner.Row) error {
		var id, ver int64
		var v spanner.NullString
		if err := r.Columns(&id, &v, &ver); err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%d|%v|%d", id, v, ver))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func kvRow(id int64, v string, ver int64) []any { return []any{id, v, ver} }

func wantStats(t *testing.T, got copier.WriteStats, written, existed, newer, tombstoned, removed int64) {
	t.Helper()
	if got.Written != written || got.SkippedExisted != existed || got.SkippedNewer != newer ||
		got.SkippedTombstoned != tombstoned || got.Removed != removed {
		t.Errorf("stats %+v; want written %d, existed %d, newer %d, tombstoned %d, removed %d",
			got, written, existed, newer, tombstoned, removed)
	}
}

// A key the live path upserted before the backfill's read-write transaction
// keeps the live values: insert-if-absent never overwrites.
func TestWriterKeepsLiveUpsert(t *testing.T) {
	w := newWEnv(t, spec.WriteInsertIfAbsent, "(1,'a',1),(2,'b',1),(3,'c',1)")
	if err := w.live.Upsert(context.Background(), kvTable, kvRow(2, "live", 7)); err != nil {
		t.Fatal(err)
	}
	st := w.copyAll(t)
	wantStats(t, st, 2, 1, 0, 0, 0)
	if got := w.get(t, 2); got.v.StringVal != "live" || got.ver != 7 {
		t.Errorf("live row 2 = %+v, want v=live ver=7 (the backfill overwrote a live write)", got)
	}
	if got := w.get(t, 1); got.v.StringVal != "a" {
		t.Errorf("row 1 = %+v, want v=a", got)
	}
}

// A key the live path deleted while MySQL (as the backfill read it, stale)
// still holds it is not resurrected: the tombstone stops the insert.
func TestWriterRespectsTombstone(t *testing.T) {
	w := newWEnv(t, spec.WriteInsertIfAbsent, "(1,'a',1),(2,'b',1),(3,'c',1)")
	if err := w.live.Delete(context.Background(), kvTable, spanner.Key{int64(2)}); err != nil {
		t.Fatal(err)
	}
	st := w.copyAll(t)
	wantStats(t, st, 2, 0, 0, 1, 0)
	if got := w.get(t, 2); got.present {
		t.Errorf("row 2 = %+v: the backfill resurrected a row the live path deleted", got)
	}
	if marked, deleted := w.shadow(t, 2); !marked || !deleted {
		t.Errorf("shadow of 2: marked %v deleted %v, want the live tombstone", marked, deleted)
	}
	if n := len(w.all(t)); n != 2 {
		t.Errorf("%d rows in Spanner, want 2", n)
	}
}

// A live write that lands after the writer's prefilter reads (which saw
// the key absent and unmarked) and before its read-write transaction still
// wins: the transaction re-reads the candidates' shadow rows. An upsert
// keeps its values; a delete keeps its tombstone and the row stays gone.
func TestWriterLiveWriteAfterSnapshot(t *testing.T) {
	for _, mode := range []string{spec.WriteInsertIfAbsent, spec.WriteVersion} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			w := newWEnv(t, mode, "(1,'a',1)")
			wr := &copier.Writer{Client: w.client, Plan: w.plan}
			copier.SetAfterPrefilter(wr, func() {
				if err := w.live.Upsert(ctx, kvTable, kvRow(1, "live", 9)); err != nil {
					t.Error(err)
				}
				if err := w.live.Delete(ctx, kvTable, spanner.Key{int64(2)}); err != nil {
					t.Error(err)
				}
			})
			for _, id := range []int64{1, 2, 3} {
				if err := wr.Add(ctx, copier.Row{Vals: kvRow(id, "stale", 1), Bytes: 16, Key: chunking.Key{id}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := wr.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			wantStats(t, wr.Stats, 1, 1, 0, 1, 0)
			if got := w.get(t, 1); got.v.StringVal != "live" || got.ver != 9 {
				t.Errorf("row 1 = %+v: the backfill overwrote a live upsert that raced its prefilter", got)
			}
			if got := w.get(t, 2); got.present {
				t.Errorf("row 2 = %+v: the backfill resurrected a live delete that raced its prefilter", got)
			}
			if got := w.get(t, 3); !got.present || got.v.StringVal != "stale" {
				t.Errorf("row 3 = %+v, want the backfill's row", got)
			}
		})
	}
}

// A row the backfill read but MySQL deleted before re-validation (here: a
// row handed to the Writer whose key MySQL does not hold) is taken back
// after the commit and leaves a tombstone, so a slower duplicate of the same
// stale row cannot bring it back.
func TestWriterRevalidationRemovesDeleted(t *testing.T) {
	ctx := context.Background()
	w := newWEnv(t, spec.WriteInsertIfAbsent, "(1,'a',1)")
	wr := &copier.Writer{Client: w.client, Plan: w.plan, Revalidate: &copier.Revalidator{Q: &source.Querier{DB: w.db}, Plan: w.plan}}
	for _, id := range []int64{1, 5} {
		if err := wr.Add(ctx, copier.Row{Vals: kvRow(id, "stale", 1), Bytes: 16, Key: chunking.Key{id}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := wr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantStats(t, wr.Stats, 2, 0, 0, 0, 1)
	if wr.Stats.Revalidated != 2 {
		t.Errorf("Revalidated = %d, want 2", wr.Stats.Revalidated)
	}
	if got := w.get(t, 5); got.present {
		t.Errorf("row 5 = %+v: re-validation left a row MySQL no longer has", got)
	}
	if marked, deleted := w.shadow(t, 5); !marked || !deleted {
		t.Errorf("shadow of 5: marked %v deleted %v, want a tombstone from re-validation", marked, deleted)
	}
	if got := w.get(t, 1); !got.present {
		t.Error("row 1 (still in MySQL) was removed by re-validation")
	}
	if marked, _ := w.shadow(t, 1); marked {
		t.Error("row 1 (still in MySQL) got a shadow row from re-validation")
	}
	// The same stale row again (a retried bundle): the tombstone stops it.
	again := &copier.Writer{Client: w.client, Plan: w.plan, Revalidate: &copier.Revalidator{Q: &source.Querier{DB: w.db}, Plan: w.plan}}
	if err := again.Add(ctx, copier.Row{Vals: kvRow(5, "stale", 1), Bytes: 16, Key: chunking.Key{int64(5)}}); err != nil {
		t.Fatal(err)
	}
	if err := again.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantStats(t, again.Stats, 0, 0, 0, 1, 0)
	if got := w.get(t, 5); got.present {
		t.Errorf("row 5 = %+v: a retried stale row came back after re-validation removed it", got)
	}
}

// Re-validation must not delete a live write that lands between the
// backfill's commit and re-validation's delete. The key is absent from
// MySQL; the test holds a WRITE lock on the MySQL table so that the
// re-validation query blocks after the backfill's commit, applies a live
// upsert of the key meanwhile, then releases the lock: the query answers
// "absent", and the conditional delete must see the live mark and keep the
// live row.
func TestWriterRevalidationKeepsLiveReinsert(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := newWEnv(t, spec.WriteInsertIfAbsent, "(1,'a',1)")
	lock, err := w.env.MySQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, "LOCK TABLES kv WRITE"); err != nil {
		t.Fatalf("lock: %v", err)
	}
	unlocked := false
	unlock := func() {
		if !unlocked {
			unlocked = true
			if _, err := lock.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
				t.Errorf("unlock: %v", err)
			}
		}
	}
	defer unlock()

	wr := &copier.Writer{Client: w.client, Plan: w.plan, Revalidate: &copier.Revalidator{Q: &source.Querier{DB: w.db}, Plan: w.plan}}
	done := make(chan error, 1)
	go func() {
		if err := wr.Add(ctx, copier.Row{Vals: kvRow(5, "stale", 1), Bytes: 16, Key: chunking.Key{int64(5)}}); err != nil {
			done <- err
			return
		}
		done <- wr.Flush(ctx)
	}()
	// Wait for the backfill's commit; re-validation is now blocked on the lock.
	for !w.get(t, 5).present {
		select {
		case err := <-done:
			t.Fatalf("writer finished before the test released the lock: %v", err)
		case <-ctx.Done():
			t.Fatal("the backfill's row never appeared")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := w.live.Upsert(ctx, kvTable, kvRow(5, "live", 9)); err != nil {
		t.Fatal(err)
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatalf("writer: %v", err)
	}
	if wr.Stats.Written != 1 || wr.Stats.Revalidated != 1 || wr.Stats.Removed != 0 {
		t.Errorf("stats %+v; want written 1, revalidated 1, removed 0", wr.Stats)
	}
	if got := w.get(t, 5); !got.present || got.v.StringVal != "live" || got.ver != 9 {
		t.Errorf("row 5 = %+v, want the live write v=live ver=9 (re-validation deleted a live write)", got)
	}
	if marked, deleted := w.shadow(t, 5); !marked || deleted {
		t.Errorf("shadow of 5: marked %v deleted %v, want the live mark", marked, deleted)
	}
}

// Version mode overwrites a row only the backfill wrote (no shadow row)
// when its stored version is older, and leaves a stored version that is
// newer or equal alone.
func TestWriterVersionMode(t *testing.T) {
	ctx := context.Background()
	w := newWEnv(t, spec.WriteVersion, "(1,'mysql',5),(2,'mysql',5),(3,'mysql',5)")
	// Earlier backfill writes (no live mark): 1 older, 2 newer, 3 equal.
	seed := &copier.Writer{Client: w.client, Plan: w.plan, Mode: copier.WriteInsertIfAbsent}
	for _, r := range [][]any{kvRow(1, "old", 2), kvRow(2, "newer", 9), kvRow(3, "same", 5)} {
		if err := seed.Add(ctx, copier.Row{Vals: r, Bytes: 16}); err != nil {
			t.Fatal(err)
		}
	}
	if err := seed.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := w.copyAll(t)
	wantStats(t, st, 1, 0, 2, 0, 0)
	if got := w.get(t, 1); got.v.StringVal != "mysql" || got.ver != 5 {
		t.Errorf("row 1 = %+v, want the newer MySQL version v=mysql ver=5", got)
	}
	if got := w.get(t, 2); got.v.StringVal != "newer" || got.ver != 9 {
		t.Errorf("row 2 = %+v, want the newer stored version v=newer ver=9 kept", got)
	}
	if got := w.get(t, 3); got.v.StringVal != "same" || got.ver != 5 {
		t.Errorf("row 3 = %+v, want the equal stored version kept", got)
	}
	for _, id := range []int64{1, 2, 3} {
		if marked, _ := w.shadow(t, id); marked {
			t.Errorf("key %d has a shadow row; the backfill must not mark keys", id)
		}
	}
}

// Version mode never overwrites a live-marked key, even when the live
// version is lower (a version counter that restarted after delete +
// re-insert).
func TestWriterVersionModeYieldsToLive(t *testing.T) {
	w := newWEnv(t, spec.WriteVersion, "(1,'mysql',5)")
	if err := w.live.Upsert(context.Background(), kvTable, kvRow(1, "live", 1)); err != nil {
		t.Fatal(err)
	}
	st := w.copyAll(t)
	wantStats(t, st, 0, 1, 0, 0, 0)
	if got := w.get(t, 1); got.v.StringVal != "live" || got.ver != 1 {
		t.Errorf("row 1 = %+v, want the live write v=live ver=1", got)
	}
}

// Copying a finished chunk again writes nothing and changes nothing.
func TestCopyChunkIdempotent(t *testing.T) {
	w := newWEnv(t, spec.WriteInsertIfAbsent, "(1,'a',1),(2,NULL,2),(3,'c',3),(4,'d',4),(5,'e',5)")
	first := w.copyAll(t)
	wantStats(t, first, 5, 0, 0, 0, 0)
	before := w.all(t)
	second := w.copyAll(t)
	wantStats(t, second, 0, 5, 0, 0, 0)
	if after := w.all(t); !reflect.DeepEqual(before, after) || len(after) != 5 {
		t.Errorf("rows changed by the second run:\nbefore %v\nafter  %v", before, after)
	}
}

// After a batch whose prefilter settled nothing (a first copy), the writer
// skips the prefilter, and a live upsert and a live delete landing right
// before its read-write transaction still win: the transaction's own read
// of the candidates' shadow rows (one range over the integer keys) is the
// guarantee. A second copy runs the prefilter again and writes nothing.
func TestWriterWithoutPrefilterKeepsLiveWrites(t *testing.T) {
	ctx := context.Background()
	w := newWEnv(t, spec.WriteInsertIfAbsent)
	wr := &copier.Writer{Client: w.client, Plan: w.plan, Limits: config.Batch{Rows: 3}}
	batches := 0
	copier.SetAfterPrefilter(wr, func() {
		if batches++; batches != 2 {
			return
		}
		if err := w.live.Upsert(ctx, kvTable, kvRow(5, "live", 9)); err != nil {
			t.Error(err)
		}
		if err := w.live.Delete(ctx, kvTable, spanner.Key{int64(6)}); err != nil {
			t.Error(err)
		}
	})
	for id := int64(1); id <= 9; id++ {
		if err := wr.Add(ctx, copier.Row{Vals: kvRow(id, "stale", 1), Bytes: 16, Key: chunking.Key{id}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := wr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := copier.Prefilters(wr); n != 1 {
		t.Errorf("%d of 3 batches ran the prefilter, want 1 (the first settled nothing)", n)
	}
	wantStats(t, wr.Stats, 7, 1, 0, 1, 0)
	if got := w.get(t, 5); got.v.StringVal != "live" || got.ver != 9 {
		t.Errorf("row 5 = %+v: the backfill overwrote a live upsert", got)
	}
	if got := w.get(t, 6); got.present {
		t.Errorf("row 6 = %+v: the backfill resurrected a live delete", got)
	}
	if n := len(w.all(t)); n != 8 {
		t.Errorf("%d rows in Spanner, want 8", n)
	}

	again := &copier.Writer{Client: w.client, Plan: w.plan, Limits: config.Batch{Rows: 3}}
	for id := int64(1); id <= 9; id++ {
		if err := again.Add(ctx, copier.Row{Vals: kvRow(id, "stale", 1), Bytes: 16, Key: chunking.Key{id}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := again.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantStats(t, again.Stats, 0, 8, 0, 1, 0)
	if n := copier.Prefilters(again); n != 3 {
		t.Errorf("the rerun ran the prefilter on %d of 3 batches, want 3 (it settles every row)", n)
	}
}
