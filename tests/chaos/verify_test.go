package chaos

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/pipelines"
	"github.com/livemigrate/livemigrate/target"
	"github.com/livemigrate/livemigrate/verify"
)

// verifyScale keeps the live-writer verify test short: 4,000 rows over the
// scenario's three tables, chunks of 250 rows.
const verifyScale = 0.02

// verifyOutcome is what one verify-under-live-writes run saw.
type verifyOutcome struct {
	sums    []verify.Summary
	drift   int64
	settled int64
	ops     int64 // live operations while verify ran
}

// runVerifyUnderLiveWrites backfills the scenario's tables at rest, then
// runs the real verify pipeline on Prism while the chaos live writer keeps
// changing the same rows (MySQL first, Spanner 0–500 ms later, in order
// per key), and returns what verify reported.
func runVerifyUnderLiveWrites(t *testing.T, seed int64, s config.Verify) verifyOutcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := &run{t: t, sc: scenario{seed: seed, scale: verifyScale, rate: rate()}, env: newEnv(t), tabs: tables(verifyScale)}
	r.setup(ctx)
	if err := target.ApplyDDL(ctx, r.env.SpannerDB, verify.DDL); err != nil {
		t.Fatal(err)
	}
	if _, err := r.backfill(ctx, "", ""); err != nil {
		t.Fatalf("seed %d: backfill: %v", seed, err)
	}

	stopLive := make(chan struct{})
	liveDone := make(chan error, 1)
	f := newFrontier(r)
	go f.run(ctx, stopLive)
	var ops atomic.Int64
	go func() { liveDone <- r.liveWriter(ctx, rand.New(rand.NewSource(seed)), f, stopLive, &ops) }()
	for ops.Load() < 50 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}

	cfg := r.job.Config
	cfg.ID = fmt.Sprintf("verify-chaos-%d-%d", seed, s.Rounds)
	for i := range cfg.Tables {
		cfg.Tables[i].Chunking.TargetRows = 250
	}
	s.MaxDiffs, s.Now = config.DefaultMaxDiffs, time.Now()
	cfg.Verify = &s
	before := ops.Load()
	_, err := beam.Run(ctx, "prism", pipelines.Verify(cfg))
	during := ops.Load() - before
	close(stopLive)
	if lerr := <-liveDone; lerr != nil {
		t.Fatalf("seed %d: live writer: %v", seed, lerr)
	}
	if err != nil {
		t.Fatalf("seed %d: verify: %v", seed, err)
	}
	units, err := verify.Units(ctx, r.client, cfg.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range r.tabs {
		names = append(names, tb.name)
	}
	out := verifyOutcome{sums: verify.Summarize(cfg.ID, names, units), ops: during}
	for _, sm := range out.sums {
		out.drift += sm.Drift()
		out.settled += sm.Settled
		if sm.SourceUnits == 0 || sm.TargetUnits == 0 {
			t.Fatalf("seed %d: %s: %d source and %d Spanner units finished", seed, sm.Table, sm.SourceUnits, sm.TargetUnits)
		}
	}
	return out
}

func describe(o verifyOutcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d live ops during verify, drift %d, settled by the re-check %d", o.ops, o.drift, o.settled)
	for _, s := range o.sums {
		fmt.Fprintf(&b, "\n  %s: %d rows, %d Spanner keys, missing %d, extra %d, different %d, unsettled %d, settled %d",
			s.Table, s.SourceRows, s.TargetKeys, s.Missing, s.Extra, s.Different, s.Unsettled, s.Settled)
		for i, d := range s.Diffs {
			if i == 10 {
				break
			}
			fmt.Fprintf(&b, "\n    %s %s %v %s", d.Kind, d.Key, d.Columns, d.Note)
		}
	}
	return b.String()
}

// TestVerifyUnderLiveWrites: with the live writer running during verify,
// the settle-and-re-check reports no false drift, over several seeds (short
// ones: 4,000 rows, a 2 s settle).
func TestVerifyUnderLiveWrites(t *testing.T) {
	for _, seed := range seeds(3, 101) {
		o := runVerifyUnderLiveWrites(t, seed, config.Verify{Settle: 2 * time.Second, Rounds: 3})
		t.Logf("seed %d: %s", seed, describe(o))
		if o.ops == 0 {
			t.Errorf("seed %d: no live write happened while verify ran", seed)
		}
		if o.drift > 0 {
			t.Errorf("seed %d: verify reported %d differences under live writes that settle (false drift)", seed, o.drift)
		}
	}
}

// TestVerifyUnderLiveWritesNegativeControl proves the test above can fail:
// without the re-check (rounds 0) the same live writes leave first-pass
// differences that verify reports as drift.
func TestVerifyUnderLiveWritesNegativeControl(t *testing.T) {
	for _, seed := range []int64{201, 202, 203} {
		o := runVerifyUnderLiveWrites(t, seed, config.Verify{Rounds: 0})
		t.Logf("seed %d without re-check: %s", seed, describe(o))
		if o.drift > 0 {
			return
		}
	}
	t.Errorf("without the re-check, live writes left no difference in 3 seeds: the live-writer verify test could not detect false drift")
}
