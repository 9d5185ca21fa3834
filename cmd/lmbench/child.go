package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/databaseio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/spannerio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/go-sql-driver/mysql"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/copier"
	"github.com/livemigrate/livemigrate/gctune"
	"github.com/livemigrate/livemigrate/pipelines"
	"github.com/livemigrate/livemigrate/spec"
	"github.com/livemigrate/livemigrate/transforms"
)

// childEnv marks a process started by lmbench to run one measurement.
const childEnv = "LMBENCH_CHILD"

// Child measurement kinds.
const (
	kindExtract = "extract"
	kindE2E     = "e2e"
	kindBeam    = "beam"
	kindVerify  = "verify"
)

// e2eJobID is the end to end run's job id (its progress rows tell the
// chunk phase).
const e2eJobID = "lmbench"

// childConfig is what the parent hands a child, as a JSON file: the
// measurement and the resolved job it runs.
type childConfig struct {
	Kind       string     `json:"kind"`
	Job        config.Job `json:"job"`
	CPUProfile string     `json:"cpu_profile,omitempty"`
}

// childResult is what a child reports back.
type childResult struct {
	Rows    int64   `json:"rows"`
	Chunks  int64   `json:"chunks"`
	Seconds float64 `json:"seconds"`
	// Drift is what a verify run found (missing + extra + different).
	Drift int64 `json:"drift,omitempty"`
	// GC is the child's garbage-collector setting.
	GC string `json:"gc"`
	// ChunkPhaseSeconds is from the first chunk's start to the last one's
	// end (extraction; the parent reads the end to end run's from its
	// progress table).
	ChunkPhaseSeconds float64 `json:"chunk_phase_seconds,omitempty"`
}

func init() {
	register.DoFn3x1[context.Context, chunking.Chunk, func(int64), error](&ExtractChunkFn{})
	register.Emitter1[int64]()
	beam.RegisterType(reflect.TypeOf((*BaselineItem)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*BaselineEvent)(nil)).Elem())
	sql.Register(baselineDriver, pwFileDriver{})
}

// childMain runs one measurement: lmbench re-executes itself with
// LMBENCH_CHILD=1 so the parent can read the child's peak RSS.
func childMain(args []string) int {
	fs := flag.NewFlagSet("lmbench child", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "child config (JSON)")
	outPath := fs.String("result", "", "where to write the result (JSON)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	beam.Init()
	data, err := os.ReadFile(*cfgPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lmbench child: %v\n", err)
		return 1
	}
	var cfg childConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "lmbench child: config: %v\n", err)
		return 1
	}
	res, err := runChild(context.Background(), cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lmbench child %s: %s\n", cfg.Kind, strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	out, _ := json.Marshal(res)
	if err := os.WriteFile(*outPath, out, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "lmbench child: %v\n", err)
		return 1
	}
	return 0
}

func runChild(ctx context.Context, cfg childConfig) (*childResult, error) {
	var p *beam.Pipeline
	switch cfg.Kind {
	case kindExtract:
		p = extractPipeline(cfg)
	case kindE2E:
		// The real backfill: default chunking, insert-if-absent with
		// tombstone check and re-validation, progress checkpointed.
		// Dead letters go to a file as with the CLI's default.
		job := cfg.Job
		job.ID = e2eJobID
		p = pipelines.Backfill(job)
	case kindVerify:
		// The real verify of the end-to-end run's target: every row
		// looked up by key, every Spanner key checked in the source.
		job := cfg.Job
		job.ID = "lmbench-verify"
		job.Verify.Now = time.Now()
		p = pipelines.Verify(job)
	case kindBeam:
		var err error
		if p, err = baselinePipeline(cfg); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown measurement %q", cfg.Kind)
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	// livemigrate's workers set their collector from the job (gctune, in
	// their DoFns' Setup: the same call, so the first one decides); the
	// hand-written baseline keeps Go's.
	gc := "Go's default"
	if cfg.Kind != kindBeam {
		gc = gctune.Apply(cfg.Job.Worker.GCPercent, cfg.Job.Worker.MemoryLimitMB).String()
	}
	start := time.Now()
	pr, err := beamx.RunWithMetrics(ctx, p)
	el := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	res := &childResult{Seconds: el.Seconds(), GC: gc}
	if pr != nil && cfg.Kind == kindExtract {
		var first, last int64
		for _, d := range pr.Metrics().AllMetrics().Distributions() {
			v := d.Result()
			switch {
			case d.Key.Namespace != extractNamespace || v.Count == 0:
			case d.Key.Name == phaseStart && (first == 0 || v.Min < first):
				first = v.Min
			case d.Key.Name == phaseEnd && v.Max > last:
				last = v.Max
			}
		}
		if first > 0 && last > first {
			res.ChunkPhaseSeconds = float64(last-first) / 1000
		}
	}
	if pr != nil {
		for _, c := range pr.Metrics().AllMetrics().Counters() {
			switch {
			case cfg.Kind == kindExtract && c.Key.Namespace == extractNamespace && c.Key.Name == "rows":
				res.Rows += c.Result()
			case cfg.Kind == kindExtract && c.Key.Namespace == extractNamespace && c.Key.Name == "chunks":
				res.Chunks += c.Result()
			case cfg.Kind == kindE2E && strings.HasPrefix(c.Key.Namespace, transforms.CounterNamespace):
				switch c.Key.Name {
				case transforms.CRowsRead:
					res.Rows += c.Result()
				case transforms.CChunksDone:
					res.Chunks += c.Result()
				}
			case cfg.Kind == kindVerify && strings.HasPrefix(c.Key.Namespace, transforms.CounterNamespace):
				switch c.Key.Name {
				case transforms.CVerifyRows:
					res.Rows += c.Result()
				case transforms.CVerifyUnits:
					res.Chunks += c.Result()
				case transforms.CVerifyMissing, transforms.CVerifyExtra, transforms.CVerifyDifferent:
					res.Drift += c.Result()
				}
			}
		}
	}
	return res, nil
}

// --- (3) extraction only --------------------------------------------------

const extractNamespace = "lmbench/extract"

// extractPipeline is the backfill pipeline with the writer cut off: the
// product's front half (pipelines.Chunks), then read + convert + protect
// per chunk (copier.Engine.Read), rows counted and dropped.
func extractPipeline(cfg childConfig) *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()
	lanes := pipelines.Chunks(s, cfg.Job)
	rows := pipelines.ForEachLane(s.Scope("extract"), lanes, func() any { return &ExtractChunkFn{Base: transforms.Base{Job: cfg.Job}} })
	// The per-chunk row counts leave the stage (as the backfill's dead
	// letters do towards textio): a stage without outputs makes Prism's
	// progress loop spin on a closed channel for the whole bundle.
	stats.Sum(s.Scope("total"), rows)
	return p
}

// ExtractChunkFn reads, converts and protects one chunk with the product's
// engine and discards the rows: the copy path without the writer.
type ExtractChunkFn struct {
	transforms.Base
}

// StartBundle names the step's counters before its first progress report
// (as transforms.CopyChunkFn does: Prism loses a counter's value that two
// bundles report before it knows its name).
func (f *ExtractChunkFn) StartBundle(ctx context.Context, _ func(int64)) {
	beam.NewCounter(extractNamespace, "rows").Inc(ctx, 0)
	beam.NewCounter(extractNamespace, "chunks").Inc(ctx, 0)
	// The chunk phase's bounds, named here too: the bundle's start is no
	// later than its first chunk's, and no end is earlier.
	now := time.Now().UnixMilli()
	beam.NewDistribution(extractNamespace, phaseStart).Update(ctx, now)
	beam.NewDistribution(extractNamespace, phaseEnd).Update(ctx, now)
}

// The distributions whose min and max bound the chunk phase (epoch ms).
const (
	phaseStart = "chunk_phase_start_ms"
	phaseEnd   = "chunk_phase_end_ms"
)

// ProcessElement reads and converts the rows of chunk c, counts them, and
// emits the count.
func (f *ExtractChunkFn) ProcessElement(ctx context.Context, c chunking.Chunk, emit func(int64)) error {
	st, err := f.Engine().Read(ctx, c, func(copier.Row) error { return nil }, nil)
	if err != nil {
		return err
	}
	if st.DeadLettered > 0 {
		return fmt.Errorf("chunk %s: %d rows failed conversion", c, st.DeadLettered)
	}
	beam.NewCounter(extractNamespace, "rows").Inc(ctx, st.Read.Rows)
	beam.NewCounter(extractNamespace, "chunks").Inc(ctx, 1)
	beam.NewDistribution(extractNamespace, phaseEnd).Update(ctx, time.Now().UnixMilli())
	emit(st.Read.Rows)
	return nil
}

// --- (5) what a Beam user writes by hand ----------------------------------

// BaselineItem is a row of items as a hand-written Beam pipeline declares
// it: databaseio maps columns by the `column` tag, spannerio by `spanner`.
// DECIMAL travels as its decimal text (Spanner parses it into NUMERIC);
// big.Rat cannot be a Beam schema field.
type BaselineItem struct {
	ID        int64     `column:"id" spanner:"id"`
	AccountID int64     `column:"account_id" spanner:"account_id"`
	Sku       string    `column:"sku" spanner:"sku"`
	Name      string    `column:"name" spanner:"name"`
	Price     string    `column:"price" spanner:"price"`
	Qty       int64     `column:"qty" spanner:"qty"`
	Weight    float64   `column:"weight" spanner:"weight"`
	CreatedAt time.Time `column:"created_at" spanner:"created_at"`
	Note      string    `column:"note" spanner:"note"`
}

// BaselineEvent is a row of item_events (composite key).
type BaselineEvent struct {
	AccountID  int64     `column:"account_id" spanner:"account_id"`
	EventNo    int64     `column:"event_no" spanner:"event_no"`
	Kind       string    `column:"kind" spanner:"kind"`
	Amount     string    `column:"amount" spanner:"amount"`
	HappenedAt time.Time `column:"happened_at" spanner:"happened_at"`
	Payload    string    `column:"payload" spanner:"payload"`
}

var baselineTypes = map[string]reflect.Type{
	"items":       reflect.TypeOf(BaselineItem{}),
	"item_events": reflect.TypeOf(BaselineEvent{}),
}

// baselinePipeline is databaseio.Read → spannerio.Write per table, the
// textbook pipeline (one query per table on one worker; blind
// InsertOrUpdate in commits of 1000 rows).
func baselinePipeline(cfg childConfig) (*beam.Pipeline, error) {
	p, s := beam.NewPipelineWithRoot()
	dsn := cfg.Job.Source.DSN + "?parseTime=true&loc=UTC"
	for _, t := range cfg.Job.Plans() {
		typ, ok := baselineTypes[t.Source]
		if !ok {
			return nil, fmt.Errorf("no baseline row type for table %s", t.Source)
		}
		ts := s.Scope(t.Source)
		rows := databaseio.Read(ts, baselineDriver, dsn, t.Source, typ)
		spannerio.Write(ts, cfg.Job.Database, t.Target, rows, spannerio.UseBatchSize(1000))
	}
	return p, nil
}

// baselineDriver is go-sql-driver/mysql with the password read from
// LM_MYSQL_PASSWORD_FILE when a connection opens, so the DSN databaseio
// carries in its DoFn (a pipeline option) holds no secret.
const baselineDriver = "lmbench-mysql"

type pwFileDriver struct{}

func (d pwFileDriver) Open(dsn string) (driver.Conn, error) {
	c, err := d.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	return c.Connect(context.Background())
}

func (pwFileDriver) OpenConnector(dsn string) (driver.Connector, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	pw, err := spec.Source{PasswordFile: os.Getenv("LM_MYSQL_PASSWORD_FILE")}.Password(context.Background())
	if err != nil {
		return nil, err
	}
	cfg.Passwd = pw
	return mysql.NewConnector(cfg)
}
