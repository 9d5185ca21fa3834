package checkpoint_test

import (
	"testing"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/target"
)

func plan(table string, n int) []chunking.Chunk {
	var out []chunking.Chunk
	var lower []byte
	for i := 0; i < n; i++ {
		c := chunking.Chunk{Table: table, ID: i, Of: n, Lower: lower, Rows: int64(10 + i)}
		if i < n-1 {
			c.Upper = chunking.EncodeKey(chunking.Key{int64(i * 100), []byte("k\x00é")})
		}
		out = append(out, c)
		lower = c.Upper
	}
	return out
}

// TestPlanRoundTripAndResume: a stored plan reads back identically, done
// chunks are reported, a plan without its header does not count, jobs and
// tables are kept apart, and Status sums them.
func TestPlanRoundTripAndResume(t *testing.T) {
	e := testenv.New(t)
	ctx := testenv.Context(t)
	if err := checkpoint.Ensure(ctx, e.SpannerDB); err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.Ensure(ctx, e.SpannerDB); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	c, err := target.Client(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := checkpoint.Load(ctx, c, "j1", "orders"); err != nil || ok {
		t.Fatalf("empty table: ok=%v err=%v", ok, err)
	}
	chunks := plan("orders", 5)
	if err := checkpoint.Save(ctx, c, "j1", "orders", "id,k", chunks); err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.Save(ctx, c, "j2", "orders", "id,k", plan("orders", 2)); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	for _, id := range []int{1, 3} {
		if err := checkpoint.MarkDone(ctx, c, "j1", chunks[id], chunks[id].Rows, chunks[id].Rows, started); err != nil {
			t.Fatal(err)
		}
	}
	got, ok, err := checkpoint.Load(ctx, c, "j1", "orders")
	if err != nil || !ok {
		t.Fatalf("load: ok=%v err=%v", ok, err)
	}
	if got.KeyColumns != "id,k" || len(got.Chunks) != 5 || len(got.Done) != 2 || !got.Done[1] || !got.Done[3] {
		t.Fatalf("loaded %+v", got)
	}
	for i, ch := range got.Chunks {
		w := chunks[i]
		if ch.ID != w.ID || ch.Of != w.Of || string(ch.Lower) != string(w.Lower) || string(ch.Upper) != string(w.Upper) ||
			(ch.Lower == nil) != (w.Lower == nil) || (ch.Upper == nil) != (w.Upper == nil) || ch.Rows != w.Rows || ch.Table != "orders" {
			t.Fatalf("chunk %d: stored %+v, loaded %+v", i, w, ch)
		}
	}
	st, err := checkpoint.Status(ctx, c, "j1")
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Chunks != 5 || st[0].Done != 2 || st[0].RowsRead != 11+13 || st[0].PlannedRows != 10+11+12+13+14 ||
		st[0].LastDone.IsZero() || st[0].FirstStart.IsZero() {
		t.Fatalf("status %+v", st)
	}

	// A crash while storing a plan leaves chunk rows without the header:
	// that plan does not count, and saving again replaces it.
	if _, err := c.Apply(ctx, []*spanner.Mutation{spanner.Delete(checkpoint.Table, spanner.Key{"j2", "orders", int64(checkpoint.HeaderID)})}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := checkpoint.Load(ctx, c, "j2", "orders"); err != nil || ok {
		t.Fatalf("headerless plan: ok=%v err=%v", ok, err)
	}
	if err := checkpoint.Save(ctx, c, "j2", "orders", "id", plan("orders", 1)); err != nil {
		t.Fatal(err)
	}
	if p, ok, err := checkpoint.Load(ctx, c, "j2", "orders"); err != nil || !ok || len(p.Chunks) != 1 || p.KeyColumns != "id" {
		t.Fatalf("re-saved plan: %+v ok=%v err=%v", p, ok, err)
	}
}
