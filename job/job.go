// Package job owns turning a spec into a checked, runnable job: it opens
// both ends, introspects every source table, builds the table plans and
// reports bad input as errors the CLI turns into exit code 2.
//
// The one idea: everything that can be wrong with the operator's input is
// found here, before a pipeline is built, and said in one line.
package job

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/livemigrate/livemigrate/chunking"
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

// Input wraps err as an InputError.
func Input(err error) error {
	if err == nil {
		return nil
	}
	return &InputError{Err: err}
}

// IsInput reports whether err is bad input.
func IsInput(err error) bool {
	var ie *InputError
	var se *spec.Error
	var nf *schema.NotFoundError
	var ue *source.UnreachableError
	var tn *target.NotFoundError
	var un *schema.UnsupportedError
	return errors.As(err, &ie) || errors.As(err, &se) || errors.As(err, &nf) || errors.As(err, &ue) ||
		errors.As(err, &tn) || errors.As(err, &un)
}

// Job is a loaded spec with both ends open.
type Job struct {
	Spec   *spec.Spec
	DB     *sql.DB
	Tables []*schema.Table
	Plans  []schema.TablePlan
}

// Load reads the spec, connects to MySQL and introspects every table.
// When checkTarget is set it also checks that the Spanner database answers.
func Load(ctx context.Context, specPath string, checkTarget bool) (*Job, error) {
	s, err := spec.Load(specPath)
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
			return nil, err
		}
		p, err := schema.BuildPlan(st, s.Defaults, t)
		if err != nil {
			return nil, Input(err)
		}
		if err := chunking.ValidateKey(p); err != nil {
			return nil, Input(err)
		}
		j.Tables = append(j.Tables, t)
		j.Plans = append(j.Plans, *p)
	}
	if checkTarget {
		if err := target.Check(ctx, s.Target.Database); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// SourceCount counts a source table's rows.
func (j *Job) SourceCount(ctx context.Context, table string) (int64, error) {
	var n int64
	err := j.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+schema.QuoteIdent(table)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}
