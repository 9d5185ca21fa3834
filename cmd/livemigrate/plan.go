package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/job"
	"github.com/livemigrate/livemigrate/livewrite"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/target"
)

// errBlocking makes `plan --delta` exit 1 when the target cannot take the
// backfill as planned.
var errBlocking = errors.New("blocking differences")

func planCmd(fs *pflag.FlagSet) func(ctx context.Context) error {
	specPath := fs.String("spec", "", "migration spec (YAML); required")
	ddl := fs.Bool("ddl", false, "print the Spanner DDL for the spec's tables (the default when neither --apply nor --delta is given)")
	apply := fs.Bool("apply", false, "create the spec's tables (and their indexes and foreign keys) that do not exist yet in the target database")
	delta := fs.Bool("delta", false, "compare the planned schema with the existing Spanner database: per table and column compatible / lossy / blocking; exit 1 when anything blocks")
	asJSON := fs.Bool("json", false, "with --delta or --ddl: print JSON instead of text")
	fkMode := fs.String("foreign-keys", schema.FKDefer, "foreign keys: defer (listed as ALTER TABLE statements to run after the backfill, not applied with the tables), "+
		"only (just those statements: --apply them once the backfill is done), inline (in CREATE TABLE, parents first; the backfill then fails on a child row copied before its parent), none")
	return func(ctx context.Context) error {
		if *specPath == "" {
			return job.Input(fmt.Errorf("--spec is required; e.g. --spec testdata/demo/spec.yaml"))
		}
		switch *fkMode {
		case schema.FKDefer, schema.FKOnly, schema.FKInline, schema.FKNone:
		default:
			return job.Input(fmt.Errorf("--foreign-keys %q: use defer, only, inline or none", *fkMode))
		}
		j, err := job.Load(ctx, *specPath, job.Options{CheckTarget: *apply || *delta})
		if err != nil {
			return err
		}
		defer j.DB.Close()
		out := os.Stdout
		if *delta {
			return runDelta(ctx, out, j, *asJSON)
		}
		d := schema.GenerateDDL(j.Plans(), *fkMode)
		existing := map[string]bool{}
		if *apply {
			if existing, err = target.Tables(ctx, j.Spec.Target.Database); err != nil {
				return err
			}
			fks, err := foreignKeys(ctx, j.Spec.Target.Database)
			if err != nil {
				return err
			}
			d = withoutExisting(d, j, existing, fks)
		}
		// livemigrate's own tables: the shadow tables the backfill and the
		// live path share, and the progress table (created, or brought up
		// to this version's columns). They exist before the application
		// starts dual-writing, so the backfill never runs DDL next to live
		// traffic.
		if *fkMode != schema.FKOnly {
			for i, p := range j.Plans() {
				if existing[livewrite.ShadowTable(p.Target)] {
					continue
				}
				d.Statements = append(d.Statements, schema.Statement{Table: livewrite.ShadowTable(p.Target), Kind: "shadow", SQL: livewrite.ShadowDDL(&j.Plans()[i]),
					Comments: shadowComment(len(d.Statements) == 0 || d.Statements[len(d.Statements)-1].Kind != "shadow")})
			}
			progress := []string{checkpoint.DDL}
			if *apply {
				if progress, err = checkpoint.Upgrade(ctx, j.Spec.Target.Database); err != nil {
					return err
				}
			}
			for i, stmt := range progress {
				var c []string
				if i == 0 {
					c = []string{"livemigrate progress table: each job's plan, chunk progress, status and run lease (livemigrate status reads it)"}
				}
				d.Statements = append(d.Statements, schema.Statement{Table: checkpoint.Table, Kind: "progress", SQL: stmt, Comments: c})
			}
		}
		if *ddl || !*apply {
			if *asJSON {
				data, _ := json.MarshalIndent(d, "", "  ")
				fmt.Fprintln(out, string(data))
			} else {
				fmt.Fprint(out, d.Render())
			}
		}
		for _, w := range d.Warnings {
			fmt.Fprintf(os.Stderr, "warning: %s\n", w)
		}
		if *apply {
			var stmts []string
			deferred := 0
			for _, s := range d.Statements {
				if s.Deferred {
					deferred++
					continue
				}
				stmts = append(stmts, s.SQL)
			}
			if err := target.ApplyDDL(ctx, j.Spec.Target.Database, stmts); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "applied %d DDL statements to %s\n", len(stmts), j.Spec.Target.Database)
			if deferred > 0 {
				fmt.Fprintf(os.Stderr, "%d foreign keys deferred: after the backfill run `livemigrate plan --spec %s --apply --foreign-keys=only`\n", deferred, *specPath)
			}
		}
		return nil
	}
}

func shadowComment(first bool) []string {
	if !first {
		return nil
	}
	return []string{"livemigrate shadow tables: the live path's marks and tombstones, read by the backfill; drop them after cutover"}
}

// foreignKeys lists the foreign-key constraint names of the database, in
// lower case.
func foreignKeys(ctx context.Context, db string) (map[string]bool, error) {
	names, err := target.ForeignKeys(ctx, db)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(names))
	for n := range names {
		out[strings.ToLower(n)] = true
	}
	return out, nil
}

// withoutExisting drops the statements of tables (and foreign keys) Spanner
// already has, so --apply creates only what is missing.
func withoutExisting(d schema.DDL, j *job.Job, existing, fks map[string]bool) schema.DDL {
	exists := map[string]bool{}
	for n := range existing {
		exists[strings.ToLower(n)] = true
	}
	skip := map[string]bool{}
	for _, p := range j.Plans() {
		if exists[strings.ToLower(p.Target)] {
			skip[p.Source] = true
		}
	}
	var keep []schema.Statement
	for _, s := range d.Statements {
		if s.Kind == "foreign-key" {
			if !fks[strings.ToLower(s.Name)] {
				keep = append(keep, s)
			}
			continue
		}
		if !skip[s.Table] {
			keep = append(keep, s)
		}
	}
	d.Statements = keep
	return d
}

func runDelta(ctx context.Context, out io.Writer, j *job.Job, asJSON bool) error {
	d, err := targetDelta(ctx, j)
	if err != nil {
		return err
	}
	if asJSON {
		data, _ := json.MarshalIndent(d, "", "  ")
		fmt.Fprintln(out, string(data))
	} else {
		printDelta(out, d)
	}
	if d.Blocking > 0 {
		return fmt.Errorf("%w: %d blocking, %d lossy, %d compatible; fix the blocking lines above before the backfill", errBlocking, d.Blocking, d.Lossy, d.Compatible)
	}
	return nil
}

func printDelta(w io.Writer, d schema.Delta) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS\tTABLE\tCOLUMN\tWHAT\tMYSQL\tPLANNED\tSPANNER\tDETAIL")
	for _, f := range schema.SortFindings(d.Findings) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", strings.ToUpper(f.Class), f.Table, dash(f.Column), f.What,
			dash(f.MySQL), dash(f.Planned), dash(f.Spanner), f.Detail)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d blocking, %d lossy, %d compatible\n", d.Blocking, d.Lossy, d.Compatible)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
