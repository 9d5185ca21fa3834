// Command livemigrate copies a live MySQL database into Cloud Spanner.
//
// Subcommands: backfill (run the copy), plan (target DDL, apply it),
// status, keys create|rotate|show (PII keysets), pii decrypt, verify (prove
// the target equals the source).
// Beam's own flags (--runner, Dataflow's) are accepted by every subcommand
// that runs a pipeline; --runner defaults to prism.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
	{"plan", "show the Spanner DDL for the spec's tables (--ddl), create them (--apply), compare with an existing database (--delta)", false, planCmd},
	{"status", "print a backfill job's per-table progress (--job ID) from the target's progress table", false, statusCmd},
	{"verify", "prove the target equals the source: per-row comparison after the mapping, re-checked after live writes settle; exit 0 clean, 1 drift, 2 error (--history: the trend; --repair: fix drift)", true, verifyCmd},
	{"keys create", "create a KMS-wrapped keyset file for the spec's pii policies (--keyset FILE --kms-key-uri URI)", false, keysCreateCmd},
	{"keys rotate", "add a new primary key to a keyset file, keeping the old keys (--keyset FILE --kms-key-uri URI)", false, keysRotateCmd},
	{"keys show", "list a keyset file's keys: id, status, type, primary (never key material)", false, keysShowCmd},
	{"pii decrypt", "read rows by key from Spanner and print their protected columns in plaintext, to stdout only (--spec --table --key)", false, piiDecryptCmd},
}

func main() {
	// Workers are started as "livemigrate --worker=true ..." with Beam's
	// flags only: hand them to Beam before anything of ours runs.
	if isWorker(os.Args[1:]) {
		flag.Parse()
		beam.Init()
		return
	}
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
	fmt.Fprintln(w, "\nRun 'livemigrate COMMAND --help' for a command's flags.")
}

// run executes one command and returns the process exit code: 0 success,
// 1 failure, 2 bad input.
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
	exec := cmd.flags(fs)
	var logLevel *string
	if cmd.beam {
		logLevel = fs.String("log-level", "auto", "log level: debug, info, warn, error; auto is warn on prism (the runner's chatter hidden) and info elsewhere (Dataflow's --dry_run prints the job at info)")
	}
	own := fs.FlagUsages()
	beamUsage := ""
	if cmd.beam {
		beamUsage = addBeamFlags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stdout, "usage: livemigrate %s [flags]\n\n%s\n\nflags:\n%s", cmd.name, cmd.summary, own)
		if beamUsage != "" {
			fmt.Fprintf(stdout, "\nBeam pipeline flags (--runner defaults to prism; Dataflow needs --project, --region, --staging_location gs://…, --worker_binary from make worker, --dead-letter gs://…):\n%s", beamUsage)
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
	if cmd.beam {
		if err := mirrorBeamFlags(fs); err != nil {
			fmt.Fprintf(stderr, "livemigrate %s: %v\n", cmd.name, err)
			return 2
		}
		if err := setLogLevel(*logLevel); err != nil {
			fmt.Fprintf(stderr, "livemigrate %s: %v\n", cmd.name, err)
			return 2
		}
		beam.Init()
	}
	if err := exec(ctx); err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		fmt.Fprintf(stderr, "livemigrate %s: %s\n", cmd.name, msg)
		// A command may choose its own exit codes (verify: 1 drift, 2 error).
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			return ec.ExitCode()
		}
		if job.IsInput(err) {
			return 2
		}
		return 1
	}
	return 0
}

// addBeamFlags exposes every flag Beam registered on the standard flag set
// (--runner, --project, --region, --staging_location, ...).
// It returns their usage text.
func addBeamFlags(fs *pflag.FlagSet) string {
	if f := flag.Lookup("runner"); f != nil {
		f.DefValue = "prism"
		f.Usage = "Beam runner: prism (local) or dataflow"
	}
	bfs := pflag.NewFlagSet("beam", pflag.ContinueOnError)
	flag.CommandLine.VisitAll(func(f *flag.Flag) {
		if fs.Lookup(f.Name) != nil {
			return
		}
		bfs.AddGoFlag(f)
	})
	fs.AddFlagSet(bfs)
	return bfs.FlagUsages()
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

func pflagRunner() string {
	if f := flag.Lookup("runner"); f != nil {
		return f.Value.String()
	}
	return ""
}

// setLogLevel chooses the level of the slog logger that beam.Init sets up
// and that the Beam SDK and the Prism runner log through.
func setLogLevel(level string) error {
	switch level {
	case "auto":
		level = "info"
		if r := pflagRunner(); r == "" || r == "prism" {
			level = "warn"
		}
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: use debug, info, warn, error or auto", level)
	}
	beamlog.LogLevel = level
	return nil
}

// readSpecFile reads a spec given as a URL (gs://…) through Beam's
// filesystems: a Flex Template launch passes the spec that way.
func readSpecFile(path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return transforms.ReadFile(ctx, path)
}
