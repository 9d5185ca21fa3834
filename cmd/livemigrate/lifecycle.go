package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/livemigrate/livemigrate/job"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/source"
	"github.com/livemigrate/livemigrate/target"
)

type atomicFlag struct{ b atomic.Bool }

func (f *atomicFlag) set()        { f.b.Store(true) }
func (f *atomicFlag) isSet() bool { return f.b.Load() }

var sourceRetryable = source.Retryable

func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}

var (
	quotedValue  = regexp.MustCompile(`'[^']*'|"[^"]*"|` + "`[^`]*`")
	bracketedKey = regexp.MustCompile(`\[[^\]]*\]`)
)

// lastError is what the job row keeps of a failure: its first line,
// with quoted literals and bracketed row keys (which may hold a row's
// values) taken out, at most 500 characters.
func lastError(err error) string {
	s := oneLine(err)
	s = quotedValue.ReplaceAllString(s, "'…'")
	s = bracketedKey.ReplaceAllString(s, "[…]")
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}

// resumeCommand is the command line that resumes job: the one given, with
// --job set to the job's id.
func resumeCommand(args []string, jobID string) string {
	if len(args) == 0 {
		args = []string{"livemigrate", "backfill"}
	}
	out := []string{args[0]}
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--job" || a == "--job-id" || a == "-job" || a == "-job-id":
			i++ // and its value
			continue
		case strings.HasPrefix(a, "--job=") || strings.HasPrefix(a, "--job-id="):
			continue
		}
		out = append(out, a)
		if a == "backfill" && len(out) == 2 {
			out = append(out, "--job", jobID)
		}
	}
	if len(out) < 3 || out[2] != "--job" {
		out = append(out, "--job", jobID)
	}
	for i, a := range out {
		out[i] = shellQuote(a)
	}
	return strings.Join(out, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:=,@%+-]+$`)

func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// checkWritableFile checks that path can be written (created or
// replaced) without leaving anything behind: its directory must exist and
// take a new file, and an existing path must be a regular file.
func checkWritableFile(path string) error {
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return errors.New("exists and is not a regular file")
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("cannot be written: %v", unwrapPath(err))
		}
		return f.Close()
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("directory %s does not exist", dir)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return probe(dir)
}

// checkWritableDir checks that dir exists and takes files, or can be
// created: its nearest existing ancestor must be a directory that takes
// files. Nothing is created.
func checkWritableDir(dir string) error {
	d := filepath.Clean(dir)
	for {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", d)
			}
			return probe(d)
		}
		parent := filepath.Dir(d)
		if parent == d {
			return fmt.Errorf("no existing directory above %s", dir)
		}
		d = parent
	}
}

// probe creates and removes an empty file in dir: the one way to know a
// directory takes files (permission bits do not tell for root, nor for
// read-only or special file systems).
func probe(dir string) error {
	f, err := os.CreateTemp(dir, ".livemigrate-probe-*")
	if err != nil {
		return fmt.Errorf("cannot create files in %s: %v", dir, unwrapPath(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// targetDelta compares the planned tables with the target's data tables
// (livemigrate's own tables left out), as the backfill will create them.
func targetDelta(ctx context.Context, j *job.Job) (schema.Delta, error) {
	return targetDeltaWith(ctx, j, schema.DDLOptions{ForeignKeys: schema.FKDefer})
}

// targetDeltaWith is targetDelta with plan's DDL options.
func targetDeltaWith(ctx context.Context, j *job.Job, opts schema.DDLOptions) (schema.Delta, error) {
	c, err := target.Client(ctx, j.Spec.Target.Database)
	if err != nil {
		return schema.Delta{}, err
	}
	var existing []schema.SpannerTable
	err = target.Do(ctx, "read INFORMATION_SCHEMA", func(ctx context.Context) error {
		var err error
		existing, err = schema.ReadSpanner(ctx, c)
		return err
	})
	if err != nil {
		return schema.Delta{}, err
	}
	var data []schema.SpannerTable
	for _, t := range existing {
		if !engineTable(t.Name) {
			data = append(data, t)
		}
	}
	return schema.CompareWith(j.Plans(), data, opts), nil
}

// blockingError names the first blocking difference (table, column and the
// fix) in one line, and how to see them all.
func blockingError(d schema.Delta, specPath string) error {
	var first schema.Finding
	for _, f := range schema.SortFindings(d.Findings) {
		if f.Class == schema.Blocking {
			first = f
			break
		}
	}
	where := "table " + first.Table
	if first.Column != "" {
		where += ", column " + first.Column
	}
	more := ""
	if d.Blocking > 1 {
		more = fmt.Sprintf(" (and %d more blocking differences)", d.Blocking-1)
	}
	return job.Inputf("the target cannot take the backfill: %s: %s%s; `livemigrate plan --spec %s --delta` lists every difference",
		where, first.Detail, more, specPath)
}
