package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/livemigrate/livemigrate/job"
	"github.com/livemigrate/livemigrate/target"
)

func planCmd(fs *pflag.FlagSet) func(ctx context.Context) error {
	specPath := fs.String("spec", "", "migration spec (YAML); required")
	ddl := fs.Bool("ddl", false, "print the Spanner DDL for the spec's tables")
	apply := fs.Bool("apply", false, "create the spec's tables (and indexes) that do not exist yet in the target database")
	return func(ctx context.Context) error {
		if *specPath == "" {
			return job.Input(fmt.Errorf("--spec is required; e.g. --spec testdata/demo/spec.yaml"))
		}
		j, err := job.Load(ctx, *specPath, *apply)
		if err != nil {
			return err
		}
		defer j.DB.Close()
		var stmts []string
		var existing map[string]bool
		if *apply {
			if existing, err = target.Tables(ctx, j.Spec.Target.Database); err != nil {
				return err
			}
		}
		for _, p := range j.Plans {
			if existing[p.Target] {
				continue
			}
			stmts = append(stmts, p.CreateTableDDL())
			stmts = append(stmts, p.IndexDDL()...)
		}
		if *ddl || !*apply {
			for _, s := range stmts {
				fmt.Fprintf(os.Stdout, "%s;\n\n", s)
			}
		}
		if *apply {
			if err := target.ApplyDDL(ctx, j.Spec.Target.Database, stmts); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "applied %d DDL statements to %s\n", len(stmts), j.Spec.Target.Database)
		}
		return nil
	}
}
