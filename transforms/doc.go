// Package transforms owns the Beam steps of livemigrate's pipelines: thin
// DoFns around the Beam-free chunk copier (package copier), their counters,
// and the dead-letter files they write through Beam's filesystems.
//
// The one idea: every DoFn embeds Base, which holds the job's one
// serialisable configuration (config.Job) and, after Setup, the worker
// process's shared copier.Engine — as Beam's own spannerio embeds one base
// DoFn. A DoFn adds no configuration of its own and no logic beyond turning
// engine results into counters and outputs, so what runs on Prism in-process
// runs the same on a Dataflow worker: nothing a DoFn needs lives in a global
// or a closure (the engine cache is keyed by the configuration itself).
package transforms

import (
	"context"
	"io"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/copier"
	"github.com/livemigrate/livemigrate/gctune"
)

// Base is embedded by every DoFn of a job: the job configuration, and the
// process's engine for it once Setup has run.
type Base struct {
	Job config.Job `json:"job"`

	eng *copier.Engine
}

// Setup sets the worker process's garbage collector from the job (once
// per process: gctune) and opens (or joins) this process's engine for the
// job. The PII keyset is read through Beam's filesystems, so a gs:// path
// works on Dataflow workers.
func (b *Base) Setup(ctx context.Context) error {
	gctune.Apply(b.Job.Worker.GCPercent, b.Job.Worker.MemoryLimitMB)
	var err error
	b.eng, err = copier.Open(ctx, b.Job, copier.WithReadFile(ReadFile))
	return err
}

// maxNamedCounters bounds the counters nameCounters creates per bundle.
const maxNamedCounters = 4096

// nameCounters creates, at zero, the counters a DoFn of this job
// increments per table (names) and the throttle's. Prism keeps a bundle's
// counter values whose short id it cannot name yet aside while it asks the
// worker for the names, and a second bundle reporting the same new counter
// meanwhile overwrites the first one's value: a whole chunk's counts were
// lost when two bundles of a split stage finished their first chunk of a
// table together. Created when a bundle starts, every counter the bundle
// can touch is named at its first progress report, which comes before
// Prism ever splits the bundle. (Beyond maxNamedCounters, for jobs of
// hundreds of tables, the counters are left to be created when used.)
func (b *Base) nameCounters(ctx context.Context, names ...string) {
	if len(b.Job.Tables)*len(names) > maxNamedCounters {
		return
	}
	for _, t := range b.Job.Tables {
		ns := CounterNamespace + t.Plan.Source
		for _, n := range names {
			beam.NewCounter(ns, n).Inc(ctx, 0)
		}
	}
	for _, n := range []string{CThrottledMillis, CPausedMillis, CWaitedMillis} {
		beam.NewCounter(ThrottleNamespace, n).Inc(ctx, 0)
	}
}

// ReadFile reads a whole file through Beam's filesystems (local paths,
// gs://).
func ReadFile(ctx context.Context, path string) ([]byte, error) {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	r, err := fs.OpenRead(ctx, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// Teardown releases the engine.
func (b *Base) Teardown() {
	if b.eng != nil {
		b.eng.Close()
		b.eng = nil
	}
}

// Engine is the engine opened by Setup (for DoFns outside this package
// that embed Base, such as the benchmark's extraction step).
func (b *Base) Engine() *copier.Engine { return b.eng }
