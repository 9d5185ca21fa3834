package chunking_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/source"
	"github.com/livemigrate/livemigrate/spec"
)

// BenchmarkPlanVsCount plans a 5,000,000-row table (LM_PLAN_BENCH_ROWS to
// change) with the default options and compares it with SELECT COUNT(*) on
// the same table in the same run (chunking.MeasurePlan). The planner's
// budget is plan ≤ 2 × count. Run: go test ./chunking -run XXX -bench PlanVsCount -benchtime 1x
func BenchmarkPlanVsCount(b *testing.B) {
	rows := 5_000_000
	if s := os.Getenv("LM_PLAN_BENCH_ROWS"); s != "" {
		rows, _ = strconv.Atoi(s)
	}
	e := testenv.New(b)
	e.Exec(b, "CREATE TABLE big (id BIGINT NOT NULL PRIMARY KEY, k INT NOT NULL, name VARCHAR(64) NOT NULL, v DOUBLE, at DATETIME(6) NOT NULL)",
		"INSERT INTO big SELECT seq, seq % 1000, CONCAT('name-', seq, '-', REPEAT('x', seq % 40)), seq / 7, TIMESTAMP('2020-01-01') + INTERVAL seq SECOND FROM seq_1_to_"+strconv.Itoa(rows),
		"ANALYZE TABLE big")
	ctx := testenv.Context(b)
	db, err := source.Open(ctx, e.Spec().Source)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	st, err := schema.Introspect(ctx, db, e.Name, "big")
	if err != nil {
		b.Fatal(err)
	}
	p, err := config.BuildPlan(spec.Table{Source: "big"}, spec.Defaults{}, st)
	if err != nil {
		b.Fatal(err)
	}
	measure := func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			c, err := chunking.MeasurePlan(ctx, db, p, chunking.Options{}, 3)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s", c)
			b.ReportMetric(c.Plan.Seconds(), "plan-s")
			b.ReportMetric(c.Count.Seconds(), "count-s")
			b.ReportMetric(c.Ratio, "plan/count")
			b.ReportMetric(float64(c.Chunks), "chunks")
		}
	}
	b.Run("pk_only", measure)
	// With a narrow secondary index COUNT(*) scans that index instead of
	// the clustered one, while the walk still reads the primary key.
	e.Exec(b, "ALTER TABLE big ADD KEY by_k (k)", "ANALYZE TABLE big")
	b.Run("with_secondary_index", measure)
}
