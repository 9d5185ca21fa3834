package chunking

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/source"
)

// PlanCost compares planning a table with counting it, measured in the
// same run on the same server.
type PlanCost struct {
	Table  string        `json:"table"`
	Rows   int64         `json:"rows"`   // COUNT(*)
	Chunks int           `json:"chunks"` // chunks planned
	Plan   time.Duration `json:"plan"`   // best planning time
	Count  time.Duration `json:"count"`  // best SELECT COUNT(*) time
	// Ratio is Plan / Count; the planner's budget is 2.
	Ratio float64 `json:"ratio"`
}

func (c PlanCost) String() string {
	return fmt.Sprintf("%s: %d rows, %d chunks; plan %v, COUNT(*) %v, ratio %.2f",
		c.Table, c.Rows, c.Chunks, c.Plan.Round(time.Millisecond), c.Count.Round(time.Millisecond), c.Ratio)
}

// MeasurePlan times Plan against SELECT COUNT(*) on the same table,
// alternating them `repeats` times (at least 1) after one warm-up count, and
// keeps the best time of each, so both see the same buffer-pool state. It is
// the benchmark behind the planner's cost claim (cmd/lmbench calls it).
func MeasurePlan(ctx context.Context, db *sql.DB, p *schema.TablePlan, o Options, repeats int) (PlanCost, error) {
	if repeats < 1 {
		repeats = 1
	}
	res := PlanCost{Table: p.Source}
	count := func() (time.Duration, error) {
		t0 := time.Now()
		err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+schema.QuoteIdent(p.Source)).Scan(&res.Rows)
		return time.Since(t0), err
	}
	if _, err := count(); err != nil {
		return res, err
	}
	for i := 0; i < repeats; i++ {
		d, err := count()
		if err != nil {
			return res, err
		}
		if res.Count == 0 || d < res.Count {
			res.Count = d
		}
		t0 := time.Now()
		chunks, err := Plan(ctx, &source.Querier{DB: db}, p, o)
		d = time.Since(t0)
		if err != nil {
			return res, err
		}
		res.Chunks = len(chunks)
		if res.Plan == 0 || d < res.Plan {
			res.Plan = d
		}
	}
	res.Ratio = float64(res.Plan) / float64(res.Count)
	return res, nil
}
