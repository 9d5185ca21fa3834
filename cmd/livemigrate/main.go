// Command livemigrate copies a live MySQL database into Cloud Spanner.
//
// Subcommands: backfill (run the copy), plan (target DDL, apply it),
// status (a job's progress), verify (prove the target equals the source),
// keys create|rotate|show (PII keysets), pii decrypt. Beam's own flags
// (--runner, Dataflow's) are accepted by every subcommand that runs a
// pipeline; --runner defaults to prism.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/spf13/pflag"

	"github.com/livemigrate/livemigrate/job"
	"github.com/livemigrate/livemigrate/transforms"
)

type command struct {
	name    string
	summary string
	beam    bool // accepts Beam's pipeline flags
	flags   func(fs *pflag.FlagSet) func(ctx context.Context) error
}

var commands = []command{
	{"backfill", "copy every table of the spec into Spanner", true, backfillCmd},
	{"plan", "show the Spanner DDL for the spec's tables (--ddl), create them and livemigrate's own tables (--apply), compare with an existing database (--delta)", false, planCmd},
	{"status", "print a backfill job's state and per-table progress (--job ID) from the target's progress table", false, statusCmd},
	{"verify", "prove the target equals the source: per-row comparison after the mapping, re-checked after live writes settle; exit 0 clean, 1 drift, 2 error (--history: the trend; --repair: fix drift)", true, verifyCmd},
	{"keys create", "create a KMS-wrapped keyset file for the spec's pii policies (--keyset FILE --kms-key-uri URI)", false, keysCreateCmd},
	{"keys rotate", "add a new primary key to a keyset file, keeping the old keys (--keyset FILE --kms-key-uri URI)", false, keysRotateCmd},
	{"keys show", "list a keyset file's keys: id, status, type, primary (never key material)", false, keysShowCmd},
	{"pii decrypt", "read rows by key from Spanner and print their protected columns in plaintext, to stdout only (--spec --table --key)", false, piiDecryptCmd},
}

// invocation is the command line as given (program name first), for the
// resume command an interrupted backfill prints.
var invocation []string

func main() {
	// Workers are started as "livemigrate --worker=true ..." with Beam's
	// flags only: hand them to Beam before anything of ours runs.
	if isWorker(os.Args[1:]) {
		flag.Parse()
		beam.Init()
		return
	}
	invocation = os.Args
	os.Exit(run(context.Background(), templateArgs(os.Args[1:], os.Getenv(FlexTemplateEnv) != ""), os.Stdout, os.Stderr))
}

func isWorker(args []string) bool {
	for _, a := range args {
		if a == "--worker" || strings.HasPrefix(a, "--worker=") || a == "-worker" || strings.HasPrefix(a, "-worker=") {
			return true
		}
	}
	return false
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: livemigrate COMMAND [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'livemigrate COMMAND --help' for a command's flags.\n\nexit codes: 0 done, 1 failed, 2 bad input (nothing was changed), 130 interrupted (resumable)")
}

// exitCoder is an error that decides the process's exit code itself.
type exitCoder interface{ ExitCode() int }

// run executes one command and returns the process exit code: 0 success,
// 1 failure, 2 bad input, 130 interrupted.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	// A command is one word (plan) or two (keys create).
	var cmd *command
	for i := range commands {
		if commands[i].name == args[0] || (len(args) > 1 && commands[i].name == args[0]+" "+args[1]) {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		var subs []string
		for _, c := range commands {
			if sub, ok := strings.CutPrefix(c.name, args[0]+" "); ok {
				subs = append(subs, sub)
			}
		}
		if len(subs) > 0 {
			fmt.Fprintf(stderr, "livemigrate %s: needs a subcommand: %s; run 'livemigrate --help'\n", args[0], strings.Join(subs, ", "))
			return 2
		}
		fmt.Fprintf(stderr, "livemigrate: unknown command %q; run 'livemigrate --help' for the list\n", args[0])
		return 2
	}
	args = args[strings.Count(cmd.name, " "):]
	fs := pflag.NewFlagSet("livemigrate "+cmd.name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	// --job-id is the old name of --job: kept as an alias.
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "job-id" {
			name = "job"
		}
		return pflag.NormalizedName(name)
	})
	exec := cmd.flags(fs)
	logLevel := fs.String("log-level", "info", "log level: debug (also shows the runner's own logs and dumps), info, warn or error")
	logFormat := fs.String("log-format", "text", "log format: text, or json (one JSON object per line, for Cloud Logging)")
	own := fs.FlagUsages()
	beamUsage := ""
	if cmd.beam {
		beamUsage = addBeamFlags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stdout, "usage: livemigrate %s [flags]\n\n%s\n\nflags:\n%s", cmd.name, cmd.summary, own)
		if beamUsage != "" {
			fmt.Fprintf(stdout, "\nBeam runner flags (Dataflow needs --project, --region, --staging_location gs://…, --worker_binary from make worker; Beam's other pipeline flags are accepted too):\n%s", beamUsage)
		}
	}
	if os.Getenv(FlexTemplateEnv) != "" {
		args = append(args[:1:1], templateFlagNames(fs, args[1:])...)
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "livemigrate %s: %v; run 'livemigrate %s --help'\n", cmd.name, err, cmd.name)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "livemigrate %s: unexpected argument %q; run 'livemigrate %s --help'\n", cmd.name, fs.Arg(0), cmd.name)
		return 2
	}
	lg, err := newLogging(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "livemigrate %s: %v\n", cmd.name, err)
		return 2
	}
	if cmd.beam {
		if err := mirrorBeamFlags(fs); err != nil {
			fmt.Fprintf(stderr, "livemigrate %s: %v\n", cmd.name, err)
			return 2
		}
		lg.runner = runnerName()
		beamlog.LogLevel = lg.levelName()
		beam.Init() // sets Beam's own slog default ...
	}
	lg.install() // ... which ours replaces: every record passes our filter
	logs = lg
	if err := exec(ctx); err != nil {
		lg.fail(cmd.name, err)
		var ec exitCoder
		switch {
		case errors.As(err, &ec):
			return ec.ExitCode()
		case job.IsInput(err):
			return 2
		}
		return 1
	}
	return 0
}

// beamFlagsShown are the Beam flags listed in --help; every other flag
// Beam registers is accepted but hidden (Flink's, Spark's, internals).
var beamFlagsShown = []string{"runner", "project", "region", "staging_location", "temp_location", "worker_binary", "worker_machine_type",
	"num_workers", "max_num_workers", "service_account_email", "network", "subnetwork", "job_name", "dry_run"}

// addBeamFlags exposes every flag Beam registered on the standard flag set
// (--runner, --project, --region, --staging_location, ...), listing only
// those that matter for livemigrate. It returns their usage text.
func addBeamFlags(fs *pflag.FlagSet) string {
	if f := flag.Lookup("runner"); f != nil {
		f.DefValue = "prism"
		f.Usage = "Beam runner: prism (local, in this process) or dataflow"
	}
	shown := pflag.NewFlagSet("beam", pflag.ContinueOnError)
	shown.SortFlags = false
	for _, name := range beamFlagsShown {
		if f := flag.Lookup(name); f != nil && fs.Lookup(name) == nil {
			shown.AddGoFlag(f)
		}
	}
	if f := shown.Lookup("runner"); f != nil {
		f.DefValue = "prism" // pflag copies the Go flag's value, not its default
	}
	fs.AddFlagSet(shown)
	flag.CommandLine.VisitAll(func(f *flag.Flag) {
		if fs.Lookup(f.Name) != nil {
			return
		}
		fs.AddGoFlag(f)
		fs.MarkHidden(f.Name)
	})
	return shown.FlagUsages()
}

// mirrorBeamFlags marks the Beam flags the user set as set in the standard
// flag set too: Beam captures pipeline options with flag.Visit, which only
// sees flags set through the standard package.
func mirrorBeamFlags(fs *pflag.FlagSet) error {
	var err error
	fs.Visit(func(pf *pflag.Flag) {
		if f := flag.Lookup(pf.Name); f != nil && err == nil {
			err = flag.Set(pf.Name, pf.Value.String())
		}
	})
	return err
}

// runnerName is the Beam runner the command line chose (prism by default).
func runnerName() string {
	if f := flag.Lookup("runner"); f != nil && f.Value.String() != "" {
		return f.Value.String()
	}
	return "prism"
}

// beamFlag is the value of one of Beam's flags ("" when unset or unknown).
func beamFlag(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// readSpecFile reads a spec given as a URL (gs://…) through Beam's
// filesystems: a Flex Template launch passes the spec that way.
func readSpecFile(path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return transforms.ReadFile(ctx, path)
}

// logs is the command's logging, set up by run.
var logs = &logging{level: slog.LevelInfo, out: &swapWriter{w: os.Stderr}}
