package main

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/livemigrate/livemigrate/internal/fakesecrets"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/internal/workerpool"
	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/target"
)

var (
	workerOnce sync.Once
	workerPath string
	workerErr  error
)

// makeWorker builds the Dataflow worker binary with the Makefile's own
// `make worker` target (into a temp dir), once per test process.
func makeWorker(t *testing.T) string {
	t.Helper()
	workerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "livemigrate-worker")
		if err != nil {
			workerErr = err
			return
		}
		workerPath = filepath.Join(dir, "livemigrate-worker-linux-amd64")
		cmd := exec.Command("make", "-s", "worker", "WORKER_BIN="+workerPath)
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			workerErr = fmt.Errorf("make worker: %v\n%s", err, out)
		}
	})
	if workerErr != nil {
		t.Fatal(workerErr)
	}
	return workerPath
}

// runIn runs the CLI in dir with the given environment additions.
func runIn(t *testing.T, dir string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestMakeWorker: `make worker` produces a statically linked linux/amd64
// executable, which the preflight accepts.
func TestMakeWorker(t *testing.T) {
	bin := makeWorker(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s is not an ELF file: %v", bin, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		t.Fatalf("%s is %v/%v, want x86-64", bin, f.Machine, f.Class)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s is dynamically linked (CGO_ENABLED=0 expected)", bin)
		}
	}
	if err := checkWorkerBinary(bin); err != nil {
		t.Fatal(err)
	}
}

// TestCheckWorkerBinary: the preflight refuses what would fail only on a
// Dataflow worker — a missing file, a non-executable, another machine's
// binary (the worker with its ELF machine patched to arm64).
func TestCheckWorkerBinary(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "script.sh")
	os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755)
	good, err := os.ReadFile(makeWorker(t))
	if err != nil {
		t.Fatal(err)
	}
	arm := append([]byte(nil), good...)
	binary.LittleEndian.PutUint16(arm[18:], uint16(elf.EM_AARCH64))
	armPath := filepath.Join(dir, "arm64")
	os.WriteFile(armPath, arm, 0o755)
	for path, want := range map[string]string{
		filepath.Join(dir, "missing"): "no such file",
		text:                          "not an ELF file",
		armPath:                       "EM_AARCH64",
	} {
		err := checkWorkerBinary(path)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "make worker") {
			t.Errorf("%s: %v; want %q and the make worker hint", filepath.Base(path), err, want)
		}
	}
}

func TestDataflowJobName(t *testing.T) {
	at := time.Date(2026, 11, 30, 23, 4, 5, 0, time.FixedZone("X", 3600))
	for spec, want := range map[string]string{
		"testdata/demo/spec.yaml":       "livemigrate-spec-20261130-220405",
		"gs://b/migrations/Shop_EU.yml": "livemigrate-shop-eu-20261130-220405",
		"/x/--Ärger 2.yaml":             "livemigrate-rger-2-20261130-220405",
		"/x/.yaml":                      "livemigrate-spec-20261130-220405",
	} {
		got := dataflowJobName(spec, at)
		if got != want || !dataflowJobNameRE.MatchString(got) {
			t.Errorf("dataflowJobName(%q) = %q, want %q", spec, got, want)
		}
	}
}

// TestDataflowPreflight: each mistake in a Dataflow submission is exit 2
// and one line, found before the spec is even read (the spec path here
// does not exist, so anything later would fail differently).
func TestDataflowPreflight(t *testing.T) {
	worker := makeWorker(t)
	base := []string{"backfill", "--spec", "/nonexistent/spec.yaml", "--runner", "dataflow", "--dry_run",
		"--project", "p", "--region", "us-central1", "--staging_location", "gs://b/staging"}
	cases := []struct {
		name  string
		extra []string
		want  string
	}{
		{"no worker binary", []string{"--dead-letter", "gs://b/dl"}, "--worker_binary is required on Dataflow: run `make worker` and pass --worker_binary bin/livemigrate-worker-linux-amd64"},
		{"worker not an executable", []string{"--worker_binary", "/etc/hostname", "--dead-letter", "gs://b/dl"}, "not a linux/amd64 executable"},
		// Without --dead-letter they go under the staging location: the
		// checks pass on to the spec, which does not exist.
		{"dead letters default to the staging location", []string{"--worker_binary", worker}, "cannot read spec /nonexistent/spec.yaml"},
		{"local dead letters", []string{"--worker_binary", worker, "--dead-letter", "out/dl"}, `--dead-letter out/dl: on Dataflow use a gs://bucket/prefix`},
		{"bad job name", []string{"--worker_binary", worker, "--dead-letter", "gs://b/dl", "--job_name", "Nightly_Backfill"}, `--job_name "Nightly_Backfill"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := runIn(t, t.TempDir(), nil, append(append([]string{}, base...), c.extra...)...)
			if code != 2 || !strings.Contains(lastLine(errOut), c.want) {
				t.Fatalf("exit %d, last line %q; want exit 2 and %q\n%s%s", code, lastLine(errOut), c.want, out, errOut)
			}
		})
	}
	t.Run("staging not on gcs", func(t *testing.T) {
		args := append(append([]string{}, base...), "--worker_binary", worker, "--dead-letter", "gs://b/dl", "--staging_location", "/tmp/x")
		_, errOut, code := runIn(t, t.TempDir(), nil, args...)
		if code != 2 || !strings.Contains(lastLine(errOut), "--staging_location \"/tmp/x\"") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
}

func TestTemplateArgs(t *testing.T) {
	self, _ := os.Executable()
	for _, c := range []struct {
		on   bool
		in   []string
		want string
	}{
		{false, []string{"--command=backfill", "--spec=x"}, "--command=backfill --spec=x"},
		{true, []string{"backfill", "--spec=x"}, "backfill --spec=x"},
		{true, []string{"--spec=gs://b/s.yaml", "--command=verify"}, "verify --spec=gs://b/s.yaml --runner=dataflow --execute_async --worker_binary=" + self},
		{true, []string{"--command=backfill", "--runner=prism", "--execute_async=false", "--worker_binary=/w"}, "backfill --runner=prism --execute_async=false --worker_binary=/w"},
		{true, []string{"--spec=x"}, "help --spec=x --runner=dataflow --execute_async --worker_binary=" + self},
	} {
		if got := strings.Join(templateArgs(c.in, c.on), " "); got != c.want {
			t.Errorf("templateArgs(%v, %v) = %q, want %q", c.in, c.on, got, c.want)
		}
	}
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.String("dead-letter", "", "")
	fs.String("staging_location", "", "")
	got := strings.Join(templateFlagNames(fs, []string{"--dead_letter=gs://b", "--staging_location=gs://s", "--no_such=1", "--dead_letter", "v"}), " ")
	if want := "--dead-letter=gs://b --staging_location=gs://s --no_such=1 --dead-letter v"; got != want {
		t.Errorf("templateFlagNames = %q, want %q", got, want)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestDataflowDryRunContract runs `backfill --runner dataflow --dry_run`
// with the `make worker` binary, the password in Secret Manager (a fake on
// localhost) and a PII-like canary value in the source rows, and holds the
// printed job to its contract: the stages are there (plan, spread, copy),
// the worker binary is referenced, the job name derives from the spec, no
// password, secret value or row value appears anywhere in the output (plain
// or base64 at any alignment), and nothing was written — no table in the
// Spanner target (not even the progress table), no file on disk (no
// dead-letter directory, no report). A control run that puts the password
// into a flag proves the search would catch it there.
func TestDataflowDryRunContract(t *testing.T) {
	e := testenv.New(t)
	pw := e.Password(t)
	const piiCanary = "pii-canary-4be1c9@example.org"
	e.Exec(t, "CREATE TABLE people (id BIGINT PRIMARY KEY, email VARCHAR(100) NOT NULL)",
		"INSERT INTO people VALUES (1, '"+piiCanary+"'), (2, 'x@example.org')")
	const secretName = "projects/lm-test/secrets/mysql-password/versions/4"
	fake := fakesecrets.Start(t, map[string]string{secretName: pw + "\n"})
	specDir := t.TempDir()
	specPath := filepath.Join(specDir, "nightly_shop.yaml")
	// The e-mail column is protected: the keyset is a local development
	// one, so its key material is in the file — and must not reach the job.
	keyset := filepath.Join(t.TempDir(), "keyset.json")
	if _, err := pii.CreateKeyset(context.Background(), keyset, "", true); err != nil {
		t.Fatal(err)
	}
	ksData, _ := os.ReadFile(keyset)
	var keyMaterial []string
	for _, m := range regexp.MustCompile(`\\?"value\\?":\s*\\?"([A-Za-z0-9+/=]{16,})`).FindAllStringSubmatch(string(ksData), -1) {
		keyMaterial = append(keyMaterial, m[1])
	}
	if len(keyMaterial) == 0 {
		t.Fatalf("no key material found in the keyset file to look for")
	}
	body := fmt.Sprintf("source:\n  dsn: %s@tcp(%s)/%s\n  password_secret: %s\ntarget:\n  database: %s\ntables:\n  - source: people\n    target: PeopleMarkerTable\npii:\n  keyset: {insecure_cleartext_file: %s}\n  tables:\n    PeopleMarkerTable: {email: encrypt}\n",
		e.MySQLUser, e.MySQLAddr, e.Name, secretName, e.SpannerDB, keyset)
	os.WriteFile(specPath, []byte(body), 0o644)

	worker := makeWorker(t)
	cwd := t.TempDir()
	args := []string{"backfill", "--spec", specPath, "--runner", "dataflow", "--dry_run",
		"--project", "p", "--region", "us-central1", "--staging_location", "gs://bucket/staging",
		"--worker_binary", worker, "--dead-letter", "gs://bucket/dead-letters", "--report-json", "report.json"}
	ctx := testenv.Context(t)
	// The target as `plan --apply` leaves it: the dry run's checks pass.
	if out, errOut, code := runIn(t, t.TempDir(), []string{fake.Env()}, "plan", "--spec", specPath, "--apply"); code != 0 {
		t.Fatalf("plan --apply: exit %d\n%s%s", code, out, errOut)
	}
	callsBefore := fake.Calls(secretName)
	before, err := target.Tables(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runIn(t, cwd, []string{fake.Env()}, args...)
	all := out + errOut
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s", code, all)
	}

	if !strings.Contains(all, "Dry-run: not submitting job!") {
		t.Fatalf("the Dataflow runner did not print the job:\n%s", all)
	}
	for _, stage := range []string{"plan", "spread", "copy"} {
		if !strings.Contains(all, `unique_name:\"`+stage+`/`) {
			t.Errorf("stage %q missing from the printed pipeline", stage)
		}
	}
	if !strings.Contains(all, `\"worker_binary\": \"`+worker+`\"`) {
		t.Errorf("the printed job's options do not reference the worker binary %s", worker)
	}
	// On Dataflow the job runs one lane and leaves a worker's chunks in
	// flight to the runner (no bound); the workers' collector is the job's.
	if !containsEncoded(all, `"lanes":1,"worker":{"gc_percent":200}`) {
		t.Errorf("the printed job's configuration does not say one lane, no in-flight bound and GOGC 200")
	}
	if !strings.Contains(all, `\"name\": \"livemigrate-nightly-shop-`) {
		t.Errorf("the job name does not derive from the spec file name (nightly_shop.yaml)")
	}
	if !containsEncoded(all, "PeopleMarkerTable") {
		t.Fatalf("control failed: the search cannot see the spec inside the printed job")
	}
	canaries := map[string]string{"password (from Secret Manager)": pw, "source row value": piiCanary}
	for i, k := range keyMaterial {
		canaries[fmt.Sprintf("key material #%d", i+1)] = k
	}
	for name, canary := range canaries {
		if containsEncoded(all, canary) {
			t.Errorf("the %s appears in the dry run's output or job", name)
		}
	}
	if n := fake.Calls(secretName) - callsBefore; n != 1 {
		t.Errorf("the launcher asked Secret Manager %d times, want 1 (to introspect)", n)
	}

	after, err := target.Tables(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sortedKeys(before)) != fmt.Sprint(sortedKeys(after)) {
		t.Errorf("the dry run changed the Spanner target: tables before %v, after %v", sortedKeys(before), sortedKeys(after))
	}
	if entries, _ := os.ReadDir(cwd); len(entries) != 0 {
		t.Errorf("the dry run wrote %d entries into its working directory (e.g. %s)", len(entries), entries[0].Name())
	}

	// As a Flex Template launch: the parameters arrive as flags with no
	// subcommand and underscores in our own flag names; the binary takes
	// the command from --command and itself as the worker binary.
	tplOut, tplErr, code := runIn(t, t.TempDir(), []string{fake.Env(), FlexTemplateEnv + "=1"},
		"--command=backfill", "--spec="+specPath, "--dead_letter=gs://bucket/dead-letters", "--job_id=nightly-1",
		"--project=p", "--region=us-central1", "--staging_location=gs://bucket/staging", "--dry_run")
	if code != 0 {
		t.Fatalf("template launch: exit %d\n%s%s", code, tplOut, tplErr)
	}
	if self := testenv.Binary(t); !strings.Contains(tplErr, `\"worker_binary\": \"`+self+`\"`) || !strings.Contains(tplErr, "Dry-run: not submitting job!") {
		t.Errorf("template launch: the printed job does not use the binary itself (%s) as the worker binary", self)
	}
	if !strings.Contains(tplErr, `\"execute_async\"`) || !containsEncoded(tplErr, `"id":"nightly-1"`) {
		t.Errorf("template launch: --execute_async or the job_id parameter did not reach the job")
	}

	// Control: a password in a flag lands in the printed options, and the
	// search above finds it.
	ctlOut, ctlErr, code := runIn(t, t.TempDir(), []string{fake.Env()},
		append(args, "--temp_location", "gs://bucket/tmp-"+pw)...)
	if code != 0 {
		t.Fatalf("control dry run: exit %d\n%s%s", code, ctlOut, ctlErr)
	}
	if !containsEncoded(ctlOut+ctlErr, pw) {
		t.Fatalf("control failed: a password passed as a flag was not found in the printed job")
	}
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestBackfillSeparateWorkers runs the real demo backfill (testdata/demo:
// four tables, ~20k rows) on Prism with every SDK worker in its own
// process, started by the Go SDK's boot binary from the staged worker
// binary, as on Dataflow. The workers get only what a Dataflow worker has:
// no launcher environment (the spec's ${VAR}s and files are resolved on
// the launcher), the Spanner endpoint, and the password through Secret
// Manager (a fake on localhost), which each worker process fetches itself.
func TestBackfillSeparateWorkers(t *testing.T) {
	e := testenv.New(t)
	for _, f := range []string{"schema.sql", "data.sql"} {
		sqlText, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo", f))
		if err != nil {
			t.Fatal(err)
		}
		e.Exec(t, string(sqlText))
	}
	const secretName = "projects/livemigrate-local/secrets/demo-mysql/versions/1"
	fake := fakesecrets.Start(t, map[string]string{secretName: e.Password(t) + "\n"})
	demo, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo", "spec.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(string(demo), "password_file: ${LM_MYSQL_PASSWORD_FILE}", "password_secret: "+secretName, 1)
	body = strings.Replace(body, ")/demo\n", ")/"+e.Name+"\n", 1)
	// The demo's keyset is made by demo.sh; this run makes its own.
	keyset := filepath.Join(t.TempDir(), "keyset.json")
	if _, err := pii.CreateKeyset(context.Background(), keyset, "", true); err != nil {
		t.Fatal(err)
	}
	body = strings.Replace(body, "${LM_STACK_DIR}/demo-keyset.json", keyset, 1)
	if body == string(demo) || !strings.Contains(body, e.Name) || !strings.Contains(body, keyset) {
		t.Fatalf("could not adapt the demo spec")
	}
	specPath := filepath.Join(t.TempDir(), "demo.yaml")
	os.WriteFile(specPath, []byte(body), 0o644)
	env := []string{fake.Env(), "LM_MYSQL_USER=" + e.MySQLUser, "LM_MYSQL_ADDR=" + e.MySQLAddr, "LM_SPANNER_DATABASE=" + e.SpannerDB}
	if out, errOut, code := runCLI(t, env, "plan", "--spec", specPath, "--apply"); code != 0 {
		t.Fatalf("plan --apply: exit %d\n%s%s", code, out, errOut)
	}
	fetchedBefore := fake.Calls(secretName)

	pool := workerpool.Start(t, workerpool.Options{Env: []string{"SPANNER_EMULATOR_HOST=" + e.EmulatorHost, fake.Env()}})
	report := filepath.Join(t.TempDir(), "report.json")
	args := append([]string{"backfill", "--spec", specPath, "--report-json", report, "--chunk-rows", "2000",
		"--dead-letter", filepath.Join(t.TempDir(), "dead-letters")}, pool.Flags(testenv.Binary(t))...)
	out, errOut, code := runCLI(t, env, args...)
	if code != 0 {
		t.Fatalf("backfill in separate worker processes: exit %d\n%s%s\nworkers:\n%s", code, out, errOut, pool.Output())
	}
	want := map[string]int64{"customers": 2000, "products": 500, "orders": 5000, "order_items": 12497}
	rep := readReport(t, report)
	if len(rep.Tables) != len(want) {
		t.Fatalf("report has %d tables", len(rep.Tables))
	}
	for _, tr := range rep.Tables {
		if tr.SourceRows != want[tr.Source] || !tr.CountsEqual || !tr.Reconciled || tr.RowsRead != want[tr.Source] || tr.Chunks < 1 {
			t.Errorf("table %s: %+v", tr.Source, tr)
		}
	}
	ws := pool.Workers()
	if len(ws) == 0 {
		t.Fatalf("no worker process was started: the pipeline ran in the launcher")
	}
	for _, w := range ws {
		if w.PID == 0 || filepath.Base(w.Exe) != "worker" {
			t.Errorf("worker %s: boot did not start the staged worker binary (%+v)", w.ID, w)
		}
	}
	if got := fake.Calls(secretName) - fetchedBefore; got < 2 {
		t.Errorf("Secret Manager was asked %d times during the backfill; want the launcher and every worker process to ask (≥ 2)", got)
	}
}
