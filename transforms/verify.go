package transforms

import (
	"context"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/verify"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*verify.Range)(nil)).Elem())
	register.DoFn3x1[context.Context, chunking.Chunk, func(int64), error](&VerifyChunkFn{})
	register.DoFn4x1[context.Context, string, func(*chunking.Chunk) bool, func(verify.Range), error](&PlanRangesFn{})
	register.DoFn3x1[context.Context, verify.Range, func(int64), error](&VerifyRangeFn{})
	register.Emitter1[verify.Range]()
	register.Iter1[chunking.Chunk]()
}

// Verify counter names (namespace CounterNamespace + table).
const (
	CVerifyRows      = "verify_source_rows"
	CVerifyKeys      = "verify_target_keys"
	CVerifyMissing   = "verify_missing"
	CVerifyExtra     = "verify_extra"
	CVerifyDifferent = "verify_different"
	CVerifySettled   = "verify_settled"
	CVerifyRepaired  = "verify_repaired"
	CVerifyUnits     = "verify_units_done"
)

// VerifyBase is embedded by the verify DoFns: Base, and the instance's
// verifier over the process's engine (built on first use; it holds no
// resources of its own).
type VerifyBase struct {
	Base
	v *verify.Verifier
}

// NewVerifyBase is the base of a verify DoFn of job.
func NewVerifyBase(job config.Job) VerifyBase { return VerifyBase{Base: Base{Job: job}} }

func (f *VerifyBase) get() (*verify.Verifier, error) {
	if f.v == nil {
		v, err := verify.New(f.eng)
		if err != nil {
			return nil, err
		}
		f.v = v
	}
	return f.v, nil
}

func count(ctx context.Context, r verify.Result) {
	ns := CounterNamespace + r.Table
	if r.Side == verify.SideSource {
		beam.NewCounter(ns, CVerifyRows).Inc(ctx, r.Rows)
	} else {
		beam.NewCounter(ns, CVerifyKeys).Inc(ctx, r.Rows)
	}
	beam.NewCounter(ns, CVerifyMissing).Inc(ctx, r.Missing)
	beam.NewCounter(ns, CVerifyExtra).Inc(ctx, r.Extra)
	beam.NewCounter(ns, CVerifyDifferent).Inc(ctx, r.Different)
	beam.NewCounter(ns, CVerifySettled).Inc(ctx, r.Settled)
	beam.NewCounter(ns, CVerifyRepaired).Inc(ctx, r.Repaired)
	beam.NewCounter(ns, CVerifyUnits).Inc(ctx, 1)
}

// VerifyChunkFn verifies one source chunk (verify.Verifier.Chunk), stores
// its result and marks it done, and emits its drift count (an output, so
// Prism does not busy-wait on the stage).
type VerifyChunkFn struct {
	VerifyBase
}

// verifyCounters are the per-table counters the verify DoFns increment.
var verifyCounters = []string{CVerifyRows, CVerifyKeys, CVerifyMissing, CVerifyExtra, CVerifyDifferent, CVerifySettled, CVerifyRepaired, CVerifyUnits}

// StartBundle names the counters the bundle can touch (Base.nameCounters).
func (f *VerifyChunkFn) StartBundle(ctx context.Context, _ func(int64)) {
	f.nameCounters(ctx, verifyCounters...)
}

// StartBundle names the counters the bundle can touch (Base.nameCounters).
func (f *VerifyRangeFn) StartBundle(ctx context.Context, _ func(int64)) {
	f.nameCounters(ctx, verifyCounters...)
}

// ProcessElement verifies chunk c.
func (f *VerifyChunkFn) ProcessElement(ctx context.Context, c chunking.Chunk, emit func(int64)) error {
	v, err := f.get()
	if err != nil {
		return err
	}
	r, err := v.Chunk(ctx, c)
	if err != nil {
		return err
	}
	if err := v.Finish(ctx, &c, r); err != nil {
		return err
	}
	count(ctx, r)
	log.Debugf(ctx, "verify %s: %d rows, drift %d", c, r.Rows, r.Drift())
	emit(r.Drift())
	return nil
}

// PlanRangesFn turns a table name into the Spanner key ranges of the
// extras scan still to do. Its side input is the planned chunks: it only
// makes the step wait until every table's chunk plan is stored, which the
// ranges are cut from.
type PlanRangesFn struct {
	VerifyBase
}

// ProcessElement plans the ranges of one table.
func (f *PlanRangesFn) ProcessElement(ctx context.Context, table string, planned func(*chunking.Chunk) bool, emit func(verify.Range)) error {
	var c chunking.Chunk
	for planned(&c) {
	}
	v, err := f.get()
	if err != nil {
		return err
	}
	rs, err := v.PlanRanges(ctx, table)
	if err != nil {
		return err
	}
	for _, r := range rs {
		emit(r)
	}
	return nil
}

// VerifyRangeFn scans one Spanner key range for rows the source does not
// hold (verify.Verifier.CheckRange), stores its result, and emits its drift
// count.
type VerifyRangeFn struct {
	VerifyBase
}

// ProcessElement verifies range r.
func (f *VerifyRangeFn) ProcessElement(ctx context.Context, r verify.Range, emit func(int64)) error {
	v, err := f.get()
	if err != nil {
		return err
	}
	res, err := v.CheckRange(ctx, r)
	if err != nil {
		return err
	}
	if err := v.Finish(ctx, nil, res); err != nil {
		return err
	}
	count(ctx, res)
	emit(res.Drift())
	return nil
}
