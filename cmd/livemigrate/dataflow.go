package main

// The Dataflow path of backfill (and, later, verify): what a submission
// needs checked before anything is touched, the job name, and the dry run.
// Everything here is a small function the backfill flow calls at one
// place; none of it changes how a Prism run behaves.

import (
	"context"
	"debug/elf"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/spf13/pflag"

	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/job"
)

// WorkerBinaryHint is how to get a worker binary; `make worker` builds it.
const WorkerBinaryHint = "run `make worker` and pass --worker_binary bin/livemigrate-worker-linux-amd64"

// beamFlagSet says whether the operator gave Beam flag name.
func beamFlagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// isDataflow says whether the pipeline goes to Dataflow.
func isDataflow() bool {
	r := strings.ToLower(beamFlag("runner"))
	return r == "dataflow" || r == "dataflowrunner"
}

// dryRunFlag says whether --dry_run was given: print the job, touch
// nothing.
func dryRunFlag() bool { return beamFlag("dry_run") == "true" }

// executeAsync says whether the runner submits and returns at once
// (--execute_async, as the Flex Template launcher runs us).
func executeAsync() bool { return beamFlag("execute_async") == "true" || beamFlag("async") == "true" }

// workerBinary is the --worker_binary given ("" when none).
func workerBinary() string { return beamFlag("worker_binary") }

// dataflowPreflight checks, before anything is read or written, what a
// Dataflow submission needs: the project, region and gs:// staging
// location; a linux/amd64 worker binary (without one, Beam would try to
// cross-compile from source, which fails outside the source tree, so we
// never let it); and a valid job name, derived from the spec and the time
// unless --job_name is given. (Dead letters on gs:// are the backfill's
// preflight's: deadLetterDest.)
func dataflowPreflight(specPath string, now time.Time) error {
	for _, f := range []string{"project", "region"} {
		if beamFlag(f) == "" {
			return job.Inputf("--%s is required on Dataflow", f)
		}
	}
	if s := beamFlag("staging_location"); !strings.HasPrefix(s, "gs://") {
		return job.Inputf("--staging_location %q: Dataflow needs a gs://BUCKET/PREFIX to stage the worker binary", s)
	}
	bin := workerBinary()
	if bin == "" {
		return job.Inputf("--worker_binary is required on Dataflow: %s", WorkerBinaryHint)
	}
	if err := checkWorkerBinary(bin); err != nil {
		return err
	}
	if beamFlagSet("job_name") {
		if name := beamFlag("job_name"); !dataflowJobNameRE.MatchString(name) || len(name) > 1024 {
			return job.Inputf("--job_name %q: Dataflow job names are lowercase letters, digits and '-', starting with a letter and not ending with '-'", name)
		}
		return nil
	}
	return flag.Set("job_name", dataflowJobName(specPath, now))
}

// dataflowJobNameRE is Dataflow's rule for job names (at most 1024
// characters, checked apart: Go's regexp caps repeat counts at 1000).
var dataflowJobNameRE = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// dataflowJobName derives a Dataflow job name from the spec's file name and
// the time: livemigrate-<spec>-<yyyymmdd>-<hhmmss>, lowercased, every run
// of other characters turned into one '-' (Dataflow allows [a-z0-9-]).
func dataflowJobName(specPath string, now time.Time) string {
	base := strings.TrimSuffix(filepath.Base(specPath), filepath.Ext(specPath))
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(base) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > 200 {
		name = strings.Trim(name[:200], "-")
	}
	if name == "" {
		name = "spec"
	}
	return "livemigrate-" + name + "-" + now.UTC().Format("20060102-150405")
}

// checkWorkerBinary accepts only a linux/amd64 ELF executable: Dataflow's
// Go workers run linux/amd64, and a binary built for the laptop (darwin,
// arm64) fails on the worker long after submission.
func checkWorkerBinary(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		if os.IsNotExist(err) || os.IsPermission(err) {
			return job.Inputf("--worker_binary %s: %v; %s", path, unwrapPath(err), WorkerBinaryHint)
		}
		return job.Inputf("--worker_binary %s is not a linux/amd64 executable (not an ELF file); %s", path, WorkerBinaryHint)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 || (f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN) {
		return job.Inputf("--worker_binary %s is a %s %s ELF file, not a linux/amd64 executable; %s", path, f.Machine, f.Type, WorkerBinaryHint)
	}
	return nil
}

// runDryRun hands the pipeline to Dataflow's runner with --dry_run, which
// prints the job (the pipeline proto and the job request, with every
// pipeline option) instead of submitting it. It is the only thing a dry run
// does after loading the spec: no progress table, no lease, no rows, no
// dead-letter directory, no report.
func runDryRun(ctx context.Context, p *beam.Pipeline) error {
	if err := beamx.Run(ctx, p); err != nil {
		return fmt.Errorf("dry run: %s", rootCause(err))
	}
	fmt.Fprintf(os.Stderr, "dry run: the job above was printed, not submitted (job name %s, worker binary %s); nothing was written\n",
		beamFlag("job_name"), workerBinary())
	return nil
}

// submittedAsync reports a job submitted with --execute_async (the Flex
// Template launcher's way): the runner returns at once, with no metrics,
// and progress is read from the checkpoint table.
func submittedAsync(res beam.PipelineResult, jobID, specPath string) {
	id := ""
	if res != nil {
		id = res.JobID()
	}
	fmt.Fprintf(os.Stderr, "submitted Dataflow job %s (%s); follow it with: livemigrate status --job %s --spec %s\n", beamFlag("job_name"), id, jobID, specPath)
}

// workerFlags adds the flags of how worker processes run the job's chunks
// (what: "chunks copied", "chunks verified"); the returned func puts the
// ones given, and the runner, into o (config.Resolve decides the rest: on
// Dataflow one lane unless --lanes says otherwise, since its workers scale
// out, and no in-flight bound).
func workerFlags(fs *pflag.FlagSet, what string, defGC int) func(o *config.Overrides) {
	lanes := fs.Int("lanes", config.DefaultLanes(), what+" side by side on Prism (one pipeline stage per lane, and at most that many chunks in flight per worker process; default: this machine's cores, 2 to 8; on Dataflow 1 unless given: workers scale there)")
	gc := fs.Int("gc-percent", defGC, fmt.Sprintf("worker processes' garbage collector target (GOGC: collect when the heap has grown by this %% over its live part; %d to %d); higher is faster and uses more memory; GOGC in a worker's environment wins", config.MinGCPercent, config.MaxGCPercent))
	mem := fs.Int("memory-limit-mb", 0, "worker processes' soft memory limit in MiB (default: half of the worker machine's memory); GOMEMLIMIT in a worker's environment wins")
	return func(o *config.Overrides) {
		o.Lanes = changedInt(fs, "lanes", lanes)
		o.GCPercent = changedInt(fs, "gc-percent", gc)
		o.MemoryLimitMB = changedInt(fs, "memory-limit-mb", mem)
		o.Dataflow = isDataflow()
	}
}
