package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/retry"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/spec"
)

func table(name string) *schema.Table {
	return &schema.Table{Name: name, PrimaryKey: []string{"id"}, Columns: []schema.Column{
		{Name: "id", DataType: "bigint", ColumnType: "bigint(20)"},
		{Name: "v", DataType: "varchar", ColumnType: "varchar(10)", CharMaxLen: 10, Nullable: true},
	}}
}

func parse(t *testing.T, yaml string) *spec.Spec {
	t.Helper()
	s, err := spec.Parse("t.yaml", []byte("source:\n  dsn: u@tcp(h:3306)/db\ntarget:\n  database: projects/p/instances/i/databases/d\n"+yaml))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func intp(v int) *int     { return &v }
func i64p(v int64) *int64 { return &v }

// TestResolvePrecedence: flag > table > defaults > built-in, per setting
// and per table.
func TestResolvePrecedence(t *testing.T) {
	const tables = `defaults:
  chunking: {target_rows: 3000, page_rows: 500}
tables:
  - source: a
    chunking: {target_rows: 7000, page_rows: 123, max_bytes: 999999}
  - source: b
  - source: c
    chunking: {page_rows: 50}
`
	cases := []struct {
		name                      string
		o                         Overrides
		rows, page                [3]int
		bytes                     [3]int64
		batchRows, batchMutations int
	}{
		{"spec", Overrides{},
			[3]int{7000, 3000, 3000}, [3]int{123, 500, 50}, [3]int64{999999, chunking.DefaultMaxBytes, chunking.DefaultMaxBytes}, DefaultBatchRows, DefaultBatchMutations},
		{"flags win", Overrides{ChunkRows: intp(10), PageRows: intp(7), ChunkBytes: i64p(1 << 20), BatchRows: intp(5), BatchMutations: intp(100)},
			[3]int{10, 10, 10}, [3]int{7, 7, 7}, [3]int64{1 << 20, 1 << 20, 1 << 20}, 5, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j, err := Resolve(parse(t, tables), []*schema.Table{table("a"), table("b"), table("c")}, c.o)
			if err != nil {
				t.Fatal(err)
			}
			for i, tb := range j.Tables {
				if tb.Chunking.TargetRows != c.rows[i] || tb.PageRows != c.page[i] || tb.Chunking.MaxBytes != c.bytes[i] {
					t.Errorf("table %s: rows %d page %d bytes %d; want %d %d %d", tb.Plan.Source, tb.Chunking.TargetRows, tb.PageRows,
						tb.Chunking.MaxBytes, c.rows[i], c.page[i], c.bytes[i])
				}
			}
			if j.Batch.Rows != c.batchRows || j.Batch.Mutations != c.batchMutations || j.Batch.Bytes != DefaultBatchBytes {
				t.Errorf("batch %+v", j.Batch)
			}
			if *j.Source.MaxConnections != DefaultMaxConnections {
				t.Errorf("max connections %d", *j.Source.MaxConnections)
			}
		})
	}
}

func TestResolveBuiltInDefaults(t *testing.T) {
	j, err := Resolve(parse(t, "tables:\n  - source: a\n"), []*schema.Table{table("a")}, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	tb := j.Tables[0]
	if tb.PageRows != DefaultPageRows || tb.Chunking.TargetRows != chunking.DefaultTargetRows || tb.Chunking.MaxBytes != chunking.DefaultMaxBytes {
		t.Fatalf("defaults not applied: %+v", tb)
	}
	if tb.Plan.WriteMode != spec.WriteInsertIfAbsent || j.Batch != DefaultBatch {
		t.Fatalf("write mode %q, batch %+v", tb.Plan.WriteMode, j.Batch)
	}
	if j.Lanes != DefaultLanes() || j.Lanes < 2 || j.Lanes > 8 {
		t.Fatalf("lanes %d, want the machine's default %d (2 to 8)", j.Lanes, DefaultLanes())
	}
	three := 3
	if j, err = Resolve(parse(t, "tables:\n  - source: a\n"), []*schema.Table{table("a")}, Overrides{Lanes: &three}); err != nil || j.Lanes != 3 {
		t.Fatalf("--lanes 3: lanes %d, %v", j.Lanes, err)
	}
}

// TestResolveWorker: a worker process's collector target and in-flight
// bound, by kind of job and runner, and the flags.
func TestResolveWorker(t *testing.T) {
	s := parse(t, "tables:\n  - source: a\n")
	tables := []*schema.Table{table("a")}
	for _, c := range []struct {
		name  string
		o     Overrides
		want  Worker
		lanes int
	}{
		{"backfill on Prism", Overrides{}, Worker{GCPercent: DefaultGCPercent, InFlight: DefaultLanes()}, DefaultLanes()},
		{"verify keeps Go's default", Overrides{Verify: &Verify{MaxDiffs: 1}}, Worker{GCPercent: 100, InFlight: DefaultLanes()}, DefaultLanes()},
		{"--lanes bounds the chunks in flight", Overrides{Lanes: intp(5)}, Worker{GCPercent: DefaultGCPercent, InFlight: 5}, 5},
		{"Dataflow: one lane, no bound", Overrides{Dataflow: true}, Worker{GCPercent: DefaultGCPercent}, 1},
		{"Dataflow with --lanes", Overrides{Dataflow: true, Lanes: intp(4)}, Worker{GCPercent: DefaultGCPercent}, 4},
		{"flags", Overrides{GCPercent: intp(400), MemoryLimitMB: intp(2048)}, Worker{GCPercent: 400, MemoryLimitMB: 2048, InFlight: DefaultLanes()}, DefaultLanes()},
	} {
		j, err := Resolve(s, tables, c.o)
		if err != nil || j.Worker != c.want || j.Lanes != c.lanes {
			t.Errorf("%s: worker %+v, lanes %d, %v; want %+v, lanes %d", c.name, j.Worker, j.Lanes, err, c.want, c.lanes)
		}
	}
}

func TestResolveWriteMode(t *testing.T) {
	s := parse(t, `defaults: {write_mode: version}
tables:
  - source: a
    version_column: id
  - source: b
    write_mode: insert-if-absent
`)
	j, err := Resolve(s, []*schema.Table{table("a"), table("b")}, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if j.Tables[0].Plan.WriteMode != spec.WriteVersion || j.Tables[1].Plan.WriteMode != spec.WriteInsertIfAbsent {
		t.Fatalf("write modes %q %q", j.Tables[0].Plan.WriteMode, j.Tables[1].Plan.WriteMode)
	}
}

// TestResolveRejects: every non-positive or out-of-range number is bad
// input naming the setting where it was given.
func TestResolveRejects(t *testing.T) {
	cases := []struct {
		name, yaml string
		o          Overrides
		want       string
	}{
		{"table target_rows", "tables:\n  - source: a\n    chunking: {target_rows: -10}\n", Overrides{}, "tables[a].chunking.target_rows is -10"},
		{"defaults page_rows zero", "defaults:\n  chunking: {page_rows: 0}\ntables:\n  - source: a\n", Overrides{}, "defaults.chunking.page_rows is 0"},
		{"max_bytes", "tables:\n  - source: a\n    chunking: {max_bytes: -1}\n", Overrides{}, "tables[a].chunking.max_bytes is -1"},
		{"page_rows too big", "tables:\n  - source: a\n    chunking: {page_rows: 1000000}\n", Overrides{}, "page_rows is 1000000; the maximum is 100000"},
		{"max_connections", "  max_connections: -3\ntables:\n  - source: a\n", Overrides{}, "source.max_connections is -3"},
		{"batch-mutations", "tables:\n  - source: a\n", Overrides{BatchMutations: intp(-5)}, "--batch-mutations is -5"},
		{"batch-mutations over Spanner", "tables:\n  - source: a\n", Overrides{BatchMutations: intp(90000)}, "--batch-mutations is 90000; the maximum is 80000"},
		{"batch-rows zero", "tables:\n  - source: a\n", Overrides{BatchRows: intp(0)}, "--batch-rows is 0"},
		{"chunk-rows flag", "tables:\n  - source: a\n", Overrides{ChunkRows: intp(-1)}, "--chunk-rows is -1"},
		{"page-rows flag beats a good spec", "tables:\n  - source: a\n    chunking: {page_rows: 10}\n", Overrides{PageRows: intp(-2)}, "--page-rows is -2"},
		{"batch-bytes", "tables:\n  - source: a\n", Overrides{BatchBytes: i64p(-7)}, "--batch-bytes is -7"},
		{"source retry window negative", "tables:\n  - source: a\n", Overrides{SourceRetryWindow: durp(-time.Second)}, "--source-retry-window is -1s; it must be at least 1s"},
		{"target retry window too short", "tables:\n  - source: a\n", Overrides{TargetRetryWindow: durp(10 * time.Millisecond)}, "--target-retry-window is 10ms"},
		{"lanes zero", "tables:\n  - source: a\n", Overrides{Lanes: intp(0)}, "--lanes is 0"},
		{"lanes too many", "tables:\n  - source: a\n", Overrides{Lanes: intp(65)}, "--lanes is 65; the maximum is 64"},
		{"gc-percent too low", "tables:\n  - source: a\n", Overrides{GCPercent: intp(5)}, "--gc-percent is 5; it must be between 25 and 2000"},
		{"gc-percent too high", "tables:\n  - source: a\n", Overrides{GCPercent: intp(5000)}, "--gc-percent is 5000"},
		{"memory-limit-mb too low", "tables:\n  - source: a\n", Overrides{MemoryLimitMB: intp(10)}, "--memory-limit-mb is 10; it must be at least 64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y := c.yaml
			if strings.HasPrefix(y, "  max_connections") {
				// belongs under source:
				y = strings.Replace(y, "  max_connections: -3\n", "", 1)
				s := parse(t, y)
				v := -3
				s.Source.MaxConnections = &v
				_, err := Resolve(s, []*schema.Table{table("a")}, c.o)
				check(t, err, c.want)
				return
			}
			_, err := Resolve(parse(t, y), []*schema.Table{table("a")}, c.o)
			check(t, err, c.want)
		})
	}
}

func durp(d time.Duration) *time.Duration { return &d }

// TestResolveRetryWindows: the windows default to retry's and take the
// flags.
func TestResolveRetryWindows(t *testing.T) {
	s := parse(t, "tables:\n  - source: a\n")
	j, err := Resolve(s, []*schema.Table{table("a")}, Overrides{})
	if err != nil || j.SourceRetry.Window != retry.DefaultWindow || j.TargetRetry.Window != retry.DefaultWindow {
		t.Fatalf("defaults: %+v %+v %v", j.SourceRetry, j.TargetRetry, err)
	}
	j, err = Resolve(s, []*schema.Table{table("a")}, Overrides{SourceRetryWindow: durp(time.Minute), TargetRetryWindow: durp(20 * time.Second)})
	if err != nil || j.SourceRetry.Window != time.Minute || j.TargetRetry.Window != 20*time.Second {
		t.Fatalf("flags: %+v %+v %v", j.SourceRetry, j.TargetRetry, err)
	}
}

func check(t *testing.T, err error, want string) {
	t.Helper()
	var ie *InputError
	if !errors.As(err, &ie) || !ie.BadInput() {
		t.Fatalf("err = %v, want bad input", err)
	}
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %q, want one line containing %q", err, want)
	}
}

// TestResolveVerify: verify's settings are checked like every other one.
func TestResolveVerify(t *testing.T) {
	s := parse(t, "tables:\n  - source: a\n")
	for _, c := range []struct {
		v    Verify
		want string
	}{
		{Verify{Settle: -1, Rounds: 1, MaxDiffs: 1}, "--settle is -1ns"},
		{Verify{Rounds: -2, MaxDiffs: 1}, "--rounds is -2"},
		{Verify{MaxDiffs: 0}, "--max-diffs is 0"},
	} {
		v := c.v
		_, err := Resolve(s, []*schema.Table{table("a")}, Overrides{Verify: &v})
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want bad input %q", c.v, err, c.want)
		}
	}
	j, err := Resolve(s, []*schema.Table{table("a")}, Overrides{Verify: &Verify{Settle: 0, Rounds: 0, MaxDiffs: 5}})
	if err != nil || j.Verify == nil || j.Verify.MaxDiffs != 5 || j.Verify.Now.IsZero() {
		t.Fatalf("resolved %+v, %v", j.Verify, err)
	}
	if j, _ := Resolve(s, []*schema.Table{table("a")}, Overrides{}); j.Verify != nil {
		t.Errorf("a job without verify overrides has verify settings")
	}
}
