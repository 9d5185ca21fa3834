package workerpool

import (
	"context"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
)

// launcherOnly is set by TestMain in the launching process only: a DoFn
// that reads it is exactly the bug this package exists to catch.
var launcherOnly string

// TestMain doubles as the worker: boot starts this test binary with
// --worker=true, and beam.Init then runs the SDK harness and exits, before
// launcherOnly is set — as on Dataflow, where main's setup never runs on a
// worker.
func TestMain(m *testing.M) {
	flag.Parse()
	beam.Init()
	launcherOnly = "set by the launcher's main"
	os.Exit(m.Run())
}

func init() {
	register.DoFn2x1[int, func(int), error](&globalDependentFn{})
	register.Emitter1[int]()
}

// globalDependentFn needs a value its launcher put in a global. It is
// registered and serialisable; only the global is wrong.
type globalDependentFn struct{}

func (*globalDependentFn) ProcessElement(x int, emit func(int)) error {
	if launcherOnly == "" {
		return errors.New("globalDependentFn: the global launcherOnly is empty in this process")
	}
	emit(x + len(launcherOnly))
	return nil
}

func runGlobalPipeline(t *testing.T, flags map[string]string) error {
	t.Helper()
	for k, v := range flags {
		if err := flag.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	p, s := beam.NewPipelineWithRoot()
	out := beam.ParDo(s, &globalDependentFn{}, beam.Create(s, 1, 2, 3))
	stats.Sum(s, out)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err := prism.Execute(ctx, p)
	return err
}

// TestGlobalDependentDoFn is the negative control of the separate-process
// harness: a DoFn that reads a global set by the launcher passes in
// Prism's loopback mode and fails when its worker runs in its own process.
func TestGlobalDependentDoFn(t *testing.T) {
	if err := runGlobalPipeline(t, map[string]string{"environment_type": "LOOPBACK"}); err != nil {
		t.Fatalf("loopback: the global-dependent DoFn should pass in-process, got: %v", err)
	}

	pool := Start(t, Options{})
	flags := map[string]string{}
	for _, f := range pool.Flags(os.Args[0]) {
		k, v, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		flags[k] = v
	}
	err := runGlobalPipeline(t, flags)
	t.Cleanup(func() { flag.Set("environment_type", "LOOPBACK") })
	if err == nil {
		t.Fatalf("separate worker process: the global-dependent DoFn passed; the harness does not isolate workers\n%s", pool.Output())
	}
	if !strings.Contains(err.Error(), "the global launcherOnly is empty in this process") {
		t.Fatalf("separate worker process failed for another reason: %v\n%s", err, pool.Output())
	}
	ws := pool.Workers()
	if len(ws) == 0 || ws[0].PID == 0 || ws[0].PID == os.Getpid() {
		t.Fatalf("no separate worker process was seen: %+v", ws)
	}
}
