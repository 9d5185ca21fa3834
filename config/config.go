// Package config owns the one job configuration: everything a worker needs
// to plan, copy or verify any table of a job, as one plain, serialisable
// value that every Beam DoFn embeds, and the one resolver that builds it.
//
// The one idea: a setting is decided once, on the launcher, by Resolve, with
// one precedence — flag > the table's spec entry > the spec's defaults >
// the built-in default — and checked there (a non-positive or out-of-range
// number is bad input, exit 2, before anything runs). Workers never look at
// the spec, a flag or a default again; they read the resolved Job. Adding a
// setting is one field here and one line in Resolve.
package config

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/ratelimit"
	"github.com/livemigrate/livemigrate/retry"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/spec"
)

// Job is the resolved configuration of one job. It is plain data: it rides
// inside every DoFn to every worker, so it never holds a secret (the
// source password is fetched on the worker from where Source says).
type Job struct {
	// ID names the job in the target's progress table; empty: no
	// checkpointing (every chunk is planned and copied).
	ID string `json:"id,omitempty"`
	// Run is the run holding the job's lease (checkpoint.Holder.ID). A
	// chunk stops between pages once the job row names another holder or
	// the job is no longer running (interrupted); empty: never checked.
	Run string `json:"run,omitempty"`
	// Source is the MySQL source (DSN without password, password source,
	// time zone, per-process connection cap).
	Source spec.Source `json:"source"`
	// Database is the target: projects/P/instances/I/databases/D.
	Database string `json:"database"`
	// Tables are the tables of the job, in spec order.
	Tables []Table `json:"tables"`
	// Batch bounds one Spanner commit.
	Batch Batch `json:"batch"`
	// Lanes is how many copy stages the pipeline deals chunks over
	// (pipelines.Chunks): on Prism, how many chunks run side by side.
	Lanes int `json:"lanes"`
	// Worker is what each worker process decides once for itself.
	Worker Worker `json:"worker"`
	// DeadLetter is the local directory or gs:// prefix receiving one
	// JSON-lines file of dead letters per chunk; empty: counted only.
	DeadLetter string `json:"dead_letter,omitempty"`
	// SourceRetry and TargetRetry say how long transient errors of each
	// side are ridden out.
	SourceRetry retry.Policy `json:"source_retry"`
	TargetRetry retry.Policy `json:"target_retry"`
	// Throttle is the spec's throttle section: how fast the source may be
	// read (budgets, probes, pausing); empty: unlimited.
	Throttle ratelimit.Config `json:"throttle"`
	// PII is the spec's pii section: policies per column and where the
	// wrapped keyset is (names and URIs, never key material).
	PII pii.Config `json:"pii"`
	// Verify holds the settings of a verify job (nil for other jobs).
	Verify *Verify `json:"verify,omitempty"`
}

// Worker is how a worker process runs the job's chunks.
type Worker struct {
	// GCPercent is the process's garbage collector target (GOGC; package
	// gctune). GOGC in the worker's environment wins.
	GCPercent int `json:"gc_percent"`
	// MemoryLimitMB is the collector's soft memory limit; 0: half of the
	// worker machine's memory. GOMEMLIMIT in the environment wins.
	MemoryLimitMB int `json:"memory_limit_mb,omitempty"`
	// InFlight bounds the chunks (verify: units) one worker process
	// handles at once; 0: no bound. On Prism it is the lanes: Prism splits
	// a lane's bundle whenever its chunks are slow, which put more chunks
	// in flight, and so more memory in use, the larger the table. On
	// Dataflow the runner sizes each worker's work.
	InFlight int `json:"in_flight,omitempty"`
}

// Garbage-collector defaults (package gctune): a backfill collects at 3×
// its live heap (a tenth less CPU for a bounded heap); verify keeps Go's
// default, because it waits on Spanner and a higher target only grew its
// memory.
const (
	DefaultGCPercent       = 200
	DefaultVerifyGCPercent = 100
	MinGCPercent           = 25
	MaxGCPercent           = 2000
	MinMemoryLimitMB       = 64
)

// Verify is what a verify job decides once (package verify).
type Verify struct {
	// Settle is how long a difference is left to settle before it is read
	// again from both sides: longer than the live path's lag.
	Settle time.Duration `json:"settle"`
	// Rounds bounds the re-checks of a difference whose key the live path
	// keeps touching; 0 reports first-pass differences unchecked.
	Rounds int `json:"rounds"`
	// MaxDiffs bounds the differences one chunk keeps (and re-checks);
	// more are counted as unconfirmed.
	MaxDiffs int `json:"max_diffs"`
	// Since, when set, verifies only rows whose version column is at or
	// after it (a duration before Now, a timestamp, or a value).
	Since string `json:"since,omitempty"`
	// Now is the launcher's clock when the run started: --since durations
	// count back from it, the same on every worker.
	Now time.Time `json:"now"`
	// Repair re-copies drifted rows and removes extra ones.
	Repair bool `json:"repair,omitempty"`
}

// Built-in verify defaults.
const (
	DefaultSettle   = 30 * time.Second
	DefaultRounds   = 3
	DefaultMaxDiffs = 10000
)

// Table is one table of a job: its plan and its resolved settings.
type Table struct {
	Plan     schema.TablePlan `json:"plan"`
	Chunking chunking.Options `json:"chunking"`
	// PageRows is the LIMIT of one keyset page read from the source.
	PageRows int `json:"page_rows"`
}

// Batch bounds one Spanner commit. Spanner allows 80,000 mutations and
// 100 MB per commit; the defaults stay well inside both so one commit stays
// short (short read-write transactions conflict less with the live path).
type Batch struct {
	Rows      int   `json:"rows"`
	Mutations int   `json:"mutations"`
	Bytes     int64 `json:"bytes"`
}

// Built-in defaults and hard limits.
const (
	DefaultPageRows       = 2000
	DefaultBatchRows      = 1000
	DefaultBatchMutations = 40000
	DefaultBatchBytes     = 16 << 20
	DefaultMaxConnections = 8

	SpannerMaxMutations = 80000
	SpannerMaxBytes     = 100 << 20
	// MaxPageRows bounds a page so one page's rows always fit a worker's
	// memory comfortably.
	MaxPageRows = 100_000
)

// MaxLanes bounds --lanes (each lane is a stage of the pipeline).
const MaxLanes = 64

// DefaultLanes is one lane per core of the machine that builds the
// pipeline (on Prism, the one that runs it), at least 2 and at most 8:
// reading and converting a chunk keeps about one core busy, the source
// another.
func DefaultLanes() int { return min(max(runtime.NumCPU(), 2), 8) }

// DefaultBatch are the built-in commit limits.
var DefaultBatch = Batch{Rows: DefaultBatchRows, Mutations: DefaultBatchMutations, Bytes: DefaultBatchBytes}

// Table returns the table whose source name is name.
func (j *Job) Table(name string) (*Table, bool) {
	for i := range j.Tables {
		if j.Tables[i].Plan.Source == name {
			return &j.Tables[i], true
		}
	}
	return nil, false
}

// Plans lists the table plans in job order.
func (j *Job) Plans() []schema.TablePlan {
	out := make([]schema.TablePlan, len(j.Tables))
	for i := range j.Tables {
		out[i] = j.Tables[i].Plan
	}
	return out
}

// Overrides are the settings given on the command line; nil means "not
// given", so an explicit 0 or a negative number is rejected rather than
// mistaken for "use the default".
type Overrides struct {
	ChunkRows      *int
	ChunkBytes     *int64
	PageRows       *int
	BatchRows      *int
	BatchMutations *int
	BatchBytes     *int64
	Lanes          *int
	// GCPercent and MemoryLimitMB are --gc-percent and --memory-limit-mb.
	GCPercent     *int
	MemoryLimitMB *int
	// Dataflow says the job runs on Dataflow, whose runner sizes workers:
	// one lane unless --lanes says otherwise, no in-flight bound.
	Dataflow bool
	// Verify, when set, makes the job a verify job; its numbers are
	// checked here like every other setting.
	Verify *Verify
	// SourceRetryWindow and TargetRetryWindow bound how long an
	// unavailable source or target is ridden out (--source-retry-window,
	// --target-retry-window).
	SourceRetryWindow *time.Duration
	TargetRetryWindow *time.Duration
}

// InputError is a setting the operator must fix: exit code 2.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// BadInput marks the error as the operator's to fix.
func (e *InputError) BadInput() bool { return true }

func inputf(format string, a ...any) error { return &InputError{Msg: fmt.Sprintf(format, a...)} }

// Resolve builds the job configuration of s for its introspected tables
// (same order as s.Tables), applying o on top. Every number is checked
// here, naming the setting that is wrong and where it came from.
func Resolve(s *spec.Spec, tables []*schema.Table, o Overrides) (Job, error) {
	if len(tables) != len(s.Tables) {
		return Job{}, errors.New("config: one introspected table per spec table is required")
	}
	j := Job{Source: s.Source, Database: s.Target.Database}
	if s.PII != nil {
		j.PII = *s.PII
	}
	if s.Throttle != nil {
		j.Throttle = *s.Throttle
	}
	maxConn, err := positive("source.max_connections", s.Source.MaxConnections, nil, DefaultMaxConnections, 0)
	if err != nil {
		return Job{}, err
	}
	j.Source.MaxConnections = &maxConn

	if j.Batch.Rows, err = positive("--batch-rows", nil, o.BatchRows, DefaultBatchRows, 0); err != nil {
		return Job{}, err
	}
	if j.Batch.Mutations, err = positive("--batch-mutations", nil, o.BatchMutations, DefaultBatchMutations, SpannerMaxMutations); err != nil {
		return Job{}, err
	}
	if j.Batch.Bytes, err = positive("--batch-bytes", nil, o.BatchBytes, DefaultBatchBytes, SpannerMaxBytes/2); err != nil {
		return Job{}, err
	}
	if j.Worker, err = resolveWorker(o); err != nil {
		return Job{}, err
	}
	lanes := DefaultLanes()
	if o.Dataflow {
		lanes = 1
	}
	if j.Lanes, err = positive("--lanes", nil, o.Lanes, lanes, MaxLanes); err != nil {
		return Job{}, err
	}
	if !o.Dataflow {
		j.Worker.InFlight = j.Lanes
	}

	if o.Verify != nil {
		if j.Verify, err = resolveVerify(*o.Verify); err != nil {
			return Job{}, err
		}
	}
	if j.SourceRetry.Window, err = window("--source-retry-window", o.SourceRetryWindow); err != nil {
		return Job{}, err
	}
	if j.TargetRetry.Window, err = window("--target-retry-window", o.TargetRetryWindow); err != nil {
		return Job{}, err
	}

	var defRows, defPage *int
	var defBytes *int64
	if c := s.Defaults.Chunking; c != nil {
		defRows, defBytes, defPage = c.TargetRows, c.MaxBytes, c.PageRows
	}
	for i, st := range s.Tables {
		st := st
		if st.WriteMode == "" {
			st.WriteMode = s.Defaults.WriteMode
		}
		if st.WriteMode == "" {
			st.WriteMode = spec.WriteInsertIfAbsent
		}
		p, err := BuildPlan(st, s.Defaults, tables[i])
		if err != nil {
			return Job{}, err
		}
		if err := applyPII(p, s.PII); err != nil {
			return Job{}, err
		}
		t := Table{Plan: *p}
		var rows, page *int
		var bytes *int64
		if c := st.Chunking; c != nil {
			rows, bytes, page = c.TargetRows, c.MaxBytes, c.PageRows
		}
		where := fmt.Sprintf("tables[%s].chunking", st.Source)
		if t.Chunking.TargetRows, err = positive(pick("target_rows", where, rows != nil, defRows != nil), first(rows, defRows), o.ChunkRows, chunking.DefaultTargetRows, 0); err != nil {
			return Job{}, err
		}
		if t.Chunking.MaxBytes, err = positive(pick("max_bytes", where, bytes != nil, defBytes != nil), first(bytes, defBytes), o.ChunkBytes, chunking.DefaultMaxBytes, 0); err != nil {
			return Job{}, err
		}
		if t.PageRows, err = positive(pick("page_rows", where, page != nil, defPage != nil), first(page, defPage), o.PageRows, DefaultPageRows, MaxPageRows); err != nil {
			return Job{}, err
		}
		j.Tables = append(j.Tables, t)
	}
	return j, nil
}

// pick names where a value came from, for the error message: the flag when
// given (the caller passes the flag's own name then), else the table's or
// the defaults' spec key.
func pick(key, where string, inTable, inDefaults bool) string {
	if inTable {
		return where + "." + key
	}
	if inDefaults {
		return "defaults.chunking." + key
	}
	return key
}

func first[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

// positive resolves one integer setting: the flag when given, else the
// spec's value when given, else def. The result must be positive and, when
// max > 0, at most max.
func positive[T int | int64](name string, specVal, flagVal *T, def, max T) (T, error) {
	v, from := def, name
	switch {
	case flagVal != nil:
		v, from = *flagVal, flagName(name)
	case specVal != nil:
		v = *specVal
	}
	if v <= 0 {
		return 0, inputf("%s is %d; it must be a positive number (leave it out for the default, %d)", from, v, def)
	}
	if max > 0 && v > max {
		return 0, inputf("%s is %d; the maximum is %d", from, v, max)
	}
	return v, nil
}

// window resolves a retry window: the flag when given (at least one
// second), else retry's default.
func window(name string, v *time.Duration) (time.Duration, error) {
	if v == nil {
		return retry.DefaultWindow, nil
	}
	if *v < time.Second {
		return 0, inputf("%s is %s; it must be at least 1s (leave it out for the default, %s)", name, *v, retry.DefaultWindow)
	}
	return *v, nil
}

// flagName maps a setting to the flag that sets it.
func flagName(setting string) string {
	if strings.HasPrefix(setting, "--") {
		return setting
	}
	k := setting[strings.LastIndex(setting, ".")+1:]
	switch k {
	case "target_rows":
		return "--chunk-rows"
	case "max_bytes":
		return "--chunk-bytes"
	case "page_rows":
		return "--page-rows"
	}
	return "--" + strings.ReplaceAll(k, "_", "-")
}

// resolveWorker decides the worker processes' collector setting.
func resolveWorker(o Overrides) (Worker, error) {
	w := Worker{GCPercent: DefaultGCPercent}
	if o.Verify != nil {
		w.GCPercent = DefaultVerifyGCPercent
	}
	if v := o.GCPercent; v != nil {
		if *v < MinGCPercent || *v > MaxGCPercent {
			return w, inputf("--gc-percent is %d; it must be between %d and %d (leave it out for the default, %d)", *v, MinGCPercent, MaxGCPercent, w.GCPercent)
		}
		w.GCPercent = *v
	}
	if v := o.MemoryLimitMB; v != nil {
		if *v < MinMemoryLimitMB {
			return w, inputf("--memory-limit-mb is %d; it must be at least %d (leave it out for half of the worker's memory)", *v, MinMemoryLimitMB)
		}
		w.MemoryLimitMB = *v
	}
	return w, nil
}

// resolveVerify checks a verify job's settings (flags only).
func resolveVerify(v Verify) (*Verify, error) {
	switch {
	case v.Settle < 0:
		return nil, inputf("--settle is %s; it must be 0 or more (e.g. 30s, longer than the live path's lag)", v.Settle)
	case v.Rounds < 0:
		return nil, inputf("--rounds is %d; it must be 0 or more", v.Rounds)
	case v.MaxDiffs <= 0:
		return nil, inputf("--max-diffs is %d; it must be a positive number (leave it out for the default, %d)", v.MaxDiffs, DefaultMaxDiffs)
	}
	if v.Now.IsZero() {
		v.Now = time.Now().UTC()
	}
	return &v, nil
}
