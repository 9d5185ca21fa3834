package pipelines

import (
	"strings"
	"testing"

	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/schema"
)

// copySteps counts the copy DoFns of a built backfill pipeline.
func copySteps(t *testing.T, job config.Job) int {
	t.Helper()
	edges, _, err := Backfill(job).Build()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range edges {
		if e.DoFn != nil && strings.HasSuffix(e.DoFn.Name(), "CopyChunkFn") {
			n++
		}
	}
	return n
}

// The chunks are dealt over job.Lanes copy stages (on Prism, that many
// chunks run side by side from the first); one lane is the plain
// shuffle → copy.
func TestBackfillLanes(t *testing.T) {
	job := config.Job{Tables: []config.Table{{Plan: schema.TablePlan{Source: "a", Target: "a"}}, {Plan: schema.TablePlan{Source: "b", Target: "b"}}}}
	for _, lanes := range []int{0, 1, 2, 5} {
		job.Lanes = lanes
		want := max(lanes, 1)
		if got := copySteps(t, job); got != want {
			t.Errorf("lanes %d: %d copy steps, want %d", lanes, got, want)
		}
	}
}
