package copier_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/copier"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/job"
	"github.com/livemigrate/livemigrate/livewrite"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/target"
)

// TestPageRowsPerTable: the spec's chunking.page_rows (per table, and from
// defaults) reaches the page query's LIMIT and the number of pages read.
func TestPageRowsPerTable(t *testing.T) {
	ctx := testenv.Context(t)
	e := testenv.New(t)
	e.Exec(t, "CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10))", "INSERT INTO a SELECT seq, 'x' FROM seq_1_to_100",
		"CREATE TABLE b (id INT PRIMARY KEY, v VARCHAR(10))", "INSERT INTO b SELECT seq, 'y' FROM seq_1_to_100")
	specPath := e.SpecYAML(t, "  - source: a\n    chunking: {page_rows: 7}\n  - source: b\n")
	// defaults apply to b only: append them to the spec.
	specPath = appendYAML(t, specPath, "defaults:\n  chunking: {page_rows: 30}\n")
	j, err := job.Load(ctx, specPath, job.Options{CheckTarget: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.DB.Close()
	var ddl []string
	for _, p := range j.Plans() {
		ddl = append(ddl, p.CreateTableDDL())
	}
	ddl = append(append(ddl, livewrite.DDL(j.Plans(), nil)...), checkpoint.DDL)
	if err := target.ApplyDDL(ctx, e.SpannerDB, ddl); err != nil {
		t.Fatal(err)
	}
	client, err := target.Client(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := copier.New(ctx, j.Config, j.DB, client)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	for _, c := range []struct {
		table string
		page  int
	}{{"a", 7}, {"b", 30}} {
		tb, err := eng.Table(c.table)
		if err != nil {
			t.Fatal(err)
		}
		q, _, err := copier.NewReader(eng.Q, &tb.Plan, tb.PageRows, nil).PageQuery(chunking.Chunk{Table: c.table, Of: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(q, fmt.Sprintf("LIMIT %d", c.page)) {
			t.Errorf("table %s: page query %q, want LIMIT %d", c.table, q, c.page)
		}
		st, err := eng.Copy(ctx, chunking.Chunk{Table: c.table, Of: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := 100/c.page + 1; st.Read.Pages != want || st.Read.Rows != 100 || st.Write.Written != 100 {
			t.Errorf("table %s: %d pages, %d rows read, %d written; want %d pages of %d and 100 rows", c.table, st.Read.Pages,
				st.Read.Rows, st.Write.Written, want, c.page)
		}
	}
}

func appendYAML(t *testing.T, path, extra string) string {
	t.Helper()
	return testenv.AppendFile(t, path, extra)
}

// TestEngineReadMatchesTarget: Engine.Read yields the rows Copy writes, as
// decoded back from Spanner (the codec is the mapping's inverse).
func TestEngineReadMatchesTarget(t *testing.T) {
	ctx := context.Background()
	w := newWEnv(t, "", "(1, 'a', 1)", "(2, NULL, 2)", "(3, 'ü', 3)")
	w.copyAll(t)
	eng := w.engine(t)
	var rows [][]any
	if _, err := eng.Read(ctx, chunking.Chunk{Table: kvTable, Of: 1}, func(r copier.Row) error {
		rows = append(rows, r.Vals)
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("read %d rows", len(rows))
	}
	for _, r := range rows {
		row, err := w.client.Single().ReadRow(ctx, kvTable, []any{r[0]}, w.plan.TargetColumns())
		if err != nil {
			t.Fatal(err)
		}
		got, err := schema.DecodeRow(row, w.plan)
		if err != nil {
			t.Fatal(err)
		}
		if d := w.plan.DiffColumns(r, got); d != nil {
			t.Errorf("key %v: columns %v differ between the source read and Spanner", r[0], d)
		}
	}
}

// TestInFlightBound: a worker process reads at most Job.Worker.InFlight
// chunks at once; another chunk waits for a slot (and gives up with its
// context), and without a bound it runs at once.
func TestInFlightBound(t *testing.T) {
	ctx := testenv.Context(t)
	e := testenv.New(t)
	e.Exec(t, "CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10))", "INSERT INTO a SELECT seq, 'x' FROM seq_1_to_10")
	j, err := job.Load(ctx, e.SpecYAML(t, "  - source: a\n"), job.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.DB.Close()
	chunk := chunking.Chunk{Table: "a", Of: 1}
	for _, bound := range []int{1, 0} {
		cfg := j.Config
		cfg.Worker.InFlight = bound
		eng, err := copier.New(ctx, cfg, j.DB, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The first chunk stops at its first row until told to go on.
		first, goOn := make(chan struct{}), make(chan struct{})
		done := make(chan error, 1)
		go func() {
			_, err := eng.Read(ctx, chunk, func(copier.Row) error {
				select {
				case first <- struct{}{}:
					<-goOn
				default:
				}
				return nil
			}, nil)
			done <- err
		}()
		<-first
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		var rows int
		_, err = eng.Read(short, chunk, func(copier.Row) error { rows++; return nil }, nil)
		cancel()
		switch {
		case bound == 1 && (err == nil || rows > 0):
			t.Errorf("bound 1: a second chunk read %d rows while the first was in flight (err %v)", rows, err)
		case bound == 0 && (err != nil || rows != 10):
			t.Errorf("no bound: the second chunk read %d rows, %v", rows, err)
		}
		close(goOn)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// The slot is free again.
		if _, err := eng.Read(ctx, chunk, func(copier.Row) error { return nil }, nil); err != nil {
			t.Errorf("bound %d: a chunk after the first: %v", bound, err)
		}
		eng.Close()
	}
}
