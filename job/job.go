// Package job owns turning a spec into a checked, runnable job on the
// launcher: it opens both ends, introspects every source table and hands
// the spec, the tables and the command line's settings to the one
// resolver (package config), reporting bad input as errors the CLI turns
// into exit code 2.
//
// The one idea: everything that can be wrong with the operator's input is
// found here, before a pipeline is built, and said in one line. An error is
// bad input when it says so itself (a BadInput method), wherever it comes
// from, so no list of error types has to be kept in step.
package job

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/source"
	"github.com/livemigrate/livemigrate/spec"
	"github.com/livemigrate/livemigrate/target"
)

// InputError is bad input: the operator must change the spec, a flag or
// the environment. The CLI prints it as one line and exits 2.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// BadInput marks the error as the operator's to fix.
func (e *InputError) BadInput() bool { return true }

// Input wraps err as an InputError.
func Input(err error) error {
	if err == nil {
		return nil
	}
	return &InputError{Err: err}
}

// Inputf is Input(fmt.Errorf(...)).
func Inputf(format string, a ...any) error { return Input(fmt.Errorf(format, a...)) }

// badInput is implemented by every error that is the operator's to fix.
type badInput interface{ BadInput() bool }

// IsInput reports whether err (or an error it wraps) is bad input.
func IsInput(err error) bool {
	var b badInput
	return errors.As(err, &b) && b.BadInput()
}

// Job is a loaded spec with the source open and the job configuration
// resolved.
type Job struct {
	Spec   *spec.Spec
	DB     *sql.DB
	Tables []*schema.Table
	Config config.Job
}

// Options say what Load checks and which command-line settings apply.
type Options struct {
	// CheckTarget also checks that the Spanner database answers.
	CheckTarget bool
	Overrides   config.Overrides
	// ReadFile reads a spec given as a URL (gs://…, a Flex Template
	// launch); nil: local paths only.
	ReadFile spec.ReadFunc
}

// Load reads the spec, connects to MySQL, introspects every table and
// resolves the job configuration.
func Load(ctx context.Context, specPath string, o Options) (*Job, error) {
	s, err := spec.LoadWith(specPath, o.ReadFile)
	if err != nil {
		return nil, err
	}
	db, err := source.Open(ctx, s.Source)
	if err != nil {
		return nil, err
	}
	j := &Job{Spec: s, DB: db}
	for _, st := range s.Tables {
		t, err := schema.Introspect(ctx, db, s.Source.Database(), st.Source)
		if err != nil {
			db.Close()
			return nil, err
		}
		j.Tables = append(j.Tables, t)
	}
	if j.Config, err = config.Resolve(s, j.Tables, o.Overrides); err != nil {
		db.Close()
		return nil, Input(err)
	}
	for i := range j.Config.Tables {
		if err := chunking.ValidateKey(&j.Config.Tables[i].Plan); err != nil {
			db.Close()
			return nil, Input(err)
		}
	}
	if o.CheckTarget {
		if err := target.Check(ctx, s.Target.Database); err != nil {
			db.Close()
			return nil, err
		}
	}
	return j, nil
}

// Plans lists the table plans in spec order (a copy: change them with
// EditPlans).
func (j *Job) Plans() []schema.TablePlan { return j.Config.Plans() }

// EditPlans lets f change the table plans (interleaving decisions) and
// keeps the job configuration in step with what it did.
func (j *Job) EditPlans(f func([]schema.TablePlan) error) error {
	plans := j.Plans()
	err := f(plans)
	for i := range plans {
		j.Config.Tables[i].Plan = plans[i]
	}
	return err
}

// SourceCount counts a source table's rows.
func (j *Job) SourceCount(ctx context.Context, table string) (int64, error) {
	var n int64
	err := j.DB.QueryRowContext(ctx, chunking.CountQuery(table)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}
