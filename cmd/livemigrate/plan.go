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
	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/spec"
	"github.com/livemigrate/livemigrate/target"
	"github.com/livemigrate/livemigrate/verify"
)

// errBlocking makes `plan --delta` exit 1 when the target cannot take the
// backfill as planned.
var errBlocking = errors.New("blocking differences")

func planCmd(fs *pflag.FlagSet) func(ctx context.Context) error {
	specPath := fs.String("spec", "", "migration spec (YAML); required")
	ddl := fs.Bool("ddl", false, "print the Spanner DDL for the spec's tables (the default when neither --apply nor --delta is given)")
	apply := fs.Bool("apply", false, "create the spec's tables (and their indexes and foreign keys) that do not exist yet in the target database")
	delta := fs.Bool("delta", false, "compare the planned schema (columns, primary keys, indexes, foreign keys, interleaving) with the existing Spanner database: compatible / lossy / blocking; exit 1 when anything blocks")
	asJSON := fs.Bool("json", false, "with --delta or --ddl: print JSON instead of text")
	fkMode := fs.String("foreign-keys", schema.FKDefer, "foreign keys: defer (listed as ALTER TABLE statements to run after the backfill, not applied with the tables), "+
		"only (just those statements: --apply them once the backfill is done), inline (in CREATE TABLE, parents first; the backfill then fails on a child row copied before its parent), none")
	interleave := fs.Bool("interleave", false, "interleave every suggested child table in its parent (INTERLEAVE IN PARENT) where the key columns already share the parent's names; tables[].interleave_in does it per table")
	fulltext := fs.String("fulltext", "", "what MySQL FULLTEXT indexes become: skip (not created, with a warning) or search (TOKENLIST columns and a Spanner SEARCH INDEX); default: the spec's defaults.fulltext, else skip")
	quiet := fs.Bool("quiet", false, "hide the warnings whose codes the spec acknowledges (defaults.acknowledge, tables[].acknowledge)")
	return func(ctx context.Context) error {
		if *specPath == "" {
			return job.Input(fmt.Errorf("--spec is required; e.g. --spec testdata/demo/spec.yaml"))
		}
		switch *fkMode {
		case schema.FKDefer, schema.FKOnly, schema.FKInline, schema.FKNone:
		default:
			return job.Input(fmt.Errorf("--foreign-keys %q: use defer, only, inline or none", *fkMode))
		}
		switch *fulltext {
		case "", spec.FulltextSkip, spec.FulltextSearch:
		default:
			return job.Input(fmt.Errorf("--fulltext %q: use skip or search", *fulltext))
		}
		j, err := job.Load(ctx, *specPath, job.Options{CheckTarget: *apply || *delta, ReadFile: readSpecFile})
		if err != nil {
			return err
		}
		defer j.DB.Close()
		if err := j.EditPlans(func(p []schema.TablePlan) error { return schema.ResolveInterleave(p, *interleave) }); err != nil {
			return job.Input(err)
		}
		opts := schema.DDLOptions{ForeignKeys: *fkMode, Fulltext: *fulltext}
		out := os.Stdout
		if *delta {
			return runDelta(ctx, out, j, opts, *asJSON)
		}
		d := schema.GenerateDDLWith(j.Plans(), opts)
		d.Quiet = *quiet
		if *fkMode == schema.FKOnly {
			d.Warnings = fkWarnings(d.Warnings) // the tables were planned (and warned about) before
		}
		if *fkMode != schema.FKOnly {
			if d.NotMigrated, err = notMigrated(ctx, j); err != nil {
				return err
			}
		}
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
		// The engine's other tables: the throttle's worker registry and
		// verify's results (never created next to live traffic).
		if *fkMode != schema.FKOnly {
			d.Statements = withEngineTables(d.Statements, existing)
		}
		printed := *ddl || !*apply
		if printed {
			if *asJSON {
				data, _ := json.MarshalIndent(d, "", "  ")
				fmt.Fprintln(out, string(data))
			} else {
				fmt.Fprint(out, d.Render())
			}
		}
		reportWarnings(os.Stderr, d, printed && !*asJSON, *quiet)
		if err := printPIIAudit(ctx, os.Stderr, j); err != nil {
			return err
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

// reportWarnings tells stderr about the warnings and the objects that do
// not move: one summary line when the script on stdout already lists them,
// the grouped list otherwise (--apply alone, --json).
func reportWarnings(w io.Writer, d schema.DDL, inScript, quiet bool) {
	if inScript {
		groups := schema.GroupWarnings(d.Warnings)
		if len(groups) > 0 || len(d.NotMigrated) > 0 {
			fmt.Fprintf(w, "plan: %d kinds of warnings and %d objects not migrated, listed at the top of the DDL\n", len(groups), len(d.NotMigrated))
		}
		return
	}
	fmt.Fprint(w, schema.RenderWarnings(d.Warnings, "warning: ", quiet))
	fmt.Fprint(w, schema.RenderNotMigrated(d.NotMigrated, "not migrated: "))
}

func fkWarnings(ws []schema.Warning) []schema.Warning {
	var out []schema.Warning
	for _, w := range ws {
		if strings.HasPrefix(w.Code, "fk-") {
			out = append(out, w)
		}
	}
	return out
}

// notMigrated lists the source schema's triggers, views, routines and
// events.
func notMigrated(ctx context.Context, j *job.Job) ([]schema.Object, error) {
	var tables []string
	for _, p := range j.Plans() {
		tables = append(tables, p.Source)
	}
	return schema.ListObjects(ctx, j.DB, j.Spec.Source.Database(), tables)
}

// withEngineTables adds the CREATE TABLE of every engine table existing
// lacks — the throttle's worker registry and verify's results; the
// progress table is created or upgraded with checkpoint.Upgrade — before
// the deferred foreign keys.
func withEngineTables(stmts []schema.Statement, existing map[string]bool) []schema.Statement {
	var add []schema.Statement
	engine := append([]string{checkpoint.WorkersDDL}, verify.DDL...)
	for i, name := range append([]string{checkpoint.WorkersTable}, verify.RunsTable, verify.UnitsTable) {
		if existing[name] {
			continue
		}
		st := schema.Statement{Table: name, Kind: "engine", SQL: engine[i]}
		if len(add) == 0 {
			st.Comments = []string{"livemigrate engine tables: the throttle's worker registry and verify results; drop them after cutover"}
		}
		add = append(add, st)
	}
	at := len(stmts)
	for i, s := range stmts {
		if s.Deferred {
			at = i
			break
		}
	}
	return append(append(append([]schema.Statement{}, stmts[:at]...), add...), stmts[at:]...)
}

// engineTable says whether a Spanner table is livemigrate's own (shadow or
// engine table), not one of the spec's.
func engineTable(name string) bool {
	return strings.HasPrefix(name, livewrite.ShadowPrefix) || strings.HasPrefix(name, "livemigrate_")
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

func runDelta(ctx context.Context, out io.Writer, j *job.Job, opts schema.DDLOptions, asJSON bool) error {
	d, err := targetDeltaWith(ctx, j, opts)
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
	fmt.Fprintln(tw, "CLASS\tTABLE\tCOLUMN/OBJECT\tWHAT\tMYSQL\tPLANNED\tSPANNER\tDETAIL")
	for _, f := range schema.SortFindings(d.Findings) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", strings.ToUpper(f.Class), f.Table, dash(f.Column+f.Object), f.What,
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

// printPIIAudit lists the columns that look personal or secret, with the
// detector that fired and the spec's decision (or that there is none: the
// backfill will refuse to start until there is).
func printPIIAudit(ctx context.Context, w io.Writer, j *job.Job) error {
	fs, err := j.AuditPII(ctx)
	if err != nil {
		return err
	}
	if len(fs) == 0 {
		return nil
	}
	undecided := len(pii.Undecided(fs))
	fmt.Fprintf(w, "pii: %d columns look personal or secret, %d without a policy (backfill refuses to start until each has one):\n", len(fs), undecided)
	for _, f := range fs {
		policy := string(f.Policy)
		if policy == "" {
			policy = "UNDECIDED"
		}
		fmt.Fprintf(w, "  %s.%s  %s  [%s]  %s\n", f.Table, f.Column, policy, f.Detector, f.Why)
	}
	return nil
}
