package transforms

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/source"
	"github.com/livemigrate/livemigrate/spec"
)

func init() {
	register.DoFn3x1[context.Context, string, func(chunking.Chunk), error](&PlanChunksFn{})
	register.Emitter1[chunking.Chunk]()
}

// PlanChunksFn turns a table name into its chunks.
type PlanChunksFn struct {
	Source   spec.Source        `json:"source"`
	Tables   []schema.TablePlan `json:"tables"`
	Chunking chunking.Options   `json:"chunking"`
}

// ProcessElement plans one table.
func (f *PlanChunksFn) ProcessElement(ctx context.Context, table string, emit func(chunking.Chunk)) error {
	db, err := source.Pool(ctx, f.Source)
	if err != nil {
		return err
	}
	for i := range f.Tables {
		if f.Tables[i].Source != table {
			continue
		}
		chunks, err := chunking.Plan(ctx, db, &f.Tables[i], f.Chunking)
		if err != nil {
			return fmt.Errorf("plan %s: %w", table, err)
		}
		beam.NewCounter(CounterNamespace+table, "chunks_planned").Inc(ctx, int64(len(chunks)))
		for _, c := range chunks {
			emit(c)
		}
		return nil
	}
	return fmt.Errorf("plan: table %q not in plan", table)
}
