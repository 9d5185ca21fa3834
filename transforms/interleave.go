package transforms

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn3x0[string, func(*int64) bool, func(string)](&AfterFn{})
	register.Iter1[int64]()
	register.Emitter1[string]()
}

// AfterFn passes table names through once its side input (the previous
// level's copy output) is complete: the barrier between the levels of
// interleaved tables (pipelines.Backfill), so a child table is planned —
// and copied — only after every chunk of its parent is.
type AfterFn struct{}

// ProcessElement emits the table name.
func (f *AfterFn) ProcessElement(table string, _ func(*int64) bool, emit func(string)) { emit(table) }
