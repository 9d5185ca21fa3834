package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/verify"
)

// The acceptance scenario's source: a customers table with every type the
// comparison must not be fooled by (TIMESTAMP(6), DATETIME in a DST zone,
// DECIMAL scale, -0.0, JSON spelling, SET order, CHAR trailing spaces,
// NULLs) and a PII-like email column whose values are canaries, and a tags
// table keyed by a case-insensitive string.
const (
	verifyCustomers = `CREATE TABLE customers (
  id BIGINT NOT NULL PRIMARY KEY,
  email VARCHAR(100) NOT NULL,
  name VARCHAR(64) NULL,
  note VARCHAR(64) NULL,
  seen TIMESTAMP(6) NULL,
  at DATETIME(6) NOT NULL,
  balance DECIMAL(12,3) NOT NULL,
  score DOUBLE NULL,
  doc JSON NULL,
  flags SET('a','b','c') NOT NULL,
  code CHAR(8) NOT NULL,
  ver BIGINT NOT NULL
) CHARACTER SET utf8mb4`
	verifyCustomerRows = `INSERT INTO customers SELECT seq,
  CONCAT('canary-pii-', seq, '@example.com'),
  IF(seq % 5 = 0, NULL, CONCAT('Name ', seq)),
  IF(seq % 7 = 0, NULL, CONCAT('note ', seq)),
  IF(seq % 13 = 0, NULL, TIMESTAMP('2024-01-01 00:00:00.000001') + INTERVAL seq HOUR + INTERVAL seq MICROSECOND),
  TIMESTAMP('2024-06-01 00:00:00') + INTERVAL seq * 37 MINUTE + INTERVAL seq * 7 MICROSECOND,
  seq * 1.5,
  IF(seq % 11 = 0, -0.0e0, seq / 3.0e0),
  IF(seq % 9 = 0, NULL, CONCAT('{"z": ', seq, ',  "a": [1, 2.50, "x"]}')),
  ELT(1 + seq % 4, '', 'c,a', 'b', 'a,b,c'),
  CONCAT('c', seq, '  '),
  seq
FROM seq_1_to_300`
	verifyTags = `CREATE TABLE tags (
  code VARCHAR(32) COLLATE utf8mb4_general_ci NOT NULL PRIMARY KEY,
  label VARCHAR(40) NOT NULL,
  qty INT NOT NULL
) CHARACTER SET utf8mb4`
	verifyTagRows = `INSERT INTO tags SELECT CONCAT(ELT(1 + seq % 5, 'a', 'B', 'c', 'D', 'é'), seq), CONCAT('label ', seq), seq FROM seq_1_to_120;
INSERT INTO tags VALUES ('abc', 'the abc tag', 7)`
)

// verifyRun runs `livemigrate verify` and returns its report.
func verifyRun(t *testing.T, specPath string, wantCode int, args ...string) (VerifyReport, string) {
	t.Helper()
	report := filepath.Join(t.TempDir(), "verify.json")
	all := append([]string{"verify", "--spec", specPath, "--settle", "500ms", "--rounds", "1", "--chunk-rows", "50", "--report-json", report}, args...)
	out, errOut, code := runCLI(t, nil, all...)
	if code != wantCode {
		t.Fatalf("verify %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, wantCode, out, errOut)
	}
	t.Logf("verify %v (exit %d):\n%s", args, code, out)
	var rep VerifyReport
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	return rep, out + errOut + string(data)
}

// differences lists a report's differences as "table kind key [columns]".
func differences(rep VerifyReport) []string {
	var out []string
	for _, t := range rep.Tables {
		for _, d := range t.Diffs {
			s := t.Table + " " + d.Kind + " " + d.Key
			if len(d.Columns) > 0 {
				s += " " + strings.Join(d.Columns, ",")
			}
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// TestVerifyAcceptance is issue 13's acceptance scenario through the CLI:
// after a clean backfill verify exits 0; the test then corrupts the target
// in known ways, and verify reports exactly those keys with the right kinds
// and columns and exits 1; --since reports only the recent ones; the
// report, logs and stdout hold none of the PII canaries; a resumed run
// re-verifies only its unfinished chunks; --repair fixes everything (exit
// 0) and a plain verify is clean again; --history shows the runs.
func TestVerifyAcceptance(t *testing.T) {
	e := testenv.New(t)
	e.Exec(t, verifyCustomers, verifyCustomerRows, verifyTags, verifyTagRows)
	// The e-mail column is protected (AEAD): verify compares its
	// plaintexts inside the worker, never printing them.
	keyset := filepath.Join(t.TempDir(), "keyset.json")
	if _, err := pii.CreateKeyset(testenv.Context(t), keyset, "", true); err != nil {
		t.Fatal(err)
	}
	piiCfg := pii.Config{Keyset: pii.Keyset{InsecureCleartextFile: keyset}, Tables: map[string]map[string]pii.Column{"customers": {"email": {Policy: pii.PolicyEncrypt}}}}
	specPath := e.SpecYAML(t, "  - source: customers\n    version_column: ver\n  - source: tags\npii:\n  keyset: {insecure_cleartext_file: "+keyset+"}\n  tables:\n    customers: {email: encrypt}\n")
	body, _ := os.ReadFile(specPath)
	os.WriteFile(specPath, []byte(strings.Replace(string(body), "target:\n", "  time_zone: Europe/Berlin\ntarget:\n", 1)), 0o644)

	// Without the engine tables verify refuses, naming the fix.
	out, errOut, code := runCLI(t, nil, "verify", "--spec", specPath)
	if code != 2 || !strings.Contains(errOut, "livemigrate plan --spec "+specPath+" --apply") {
		t.Fatalf("verify before plan --apply: exit %d, want 2 and the plan --apply command\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, nil, "plan", "--spec", specPath, "--apply"); code != 0 {
		t.Fatalf("plan --apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, nil, "backfill", "--spec", specPath, "--dead-letter", t.TempDir(), "--job-id", "bf-1"); code != 0 {
		t.Fatalf("backfill: exit %d\n%s\n%s", code, out, errOut)
	}
	// A backfill's job id is no verify run.
	if out, errOut, code := runCLI(t, nil, "verify", "--spec", specPath, "--job", "bf-1"); code != 2 || !strings.Contains(errOut, "is a backfill job") {
		t.Fatalf("verify --job of a backfill: exit %d, want 2\n%s\n%s", code, out, errOut)
	}

	// Clean: every row compared, every Spanner key scanned, exit 0.
	rep, _ := verifyRun(t, specPath, 0)
	if rep.Status != verify.StatusClean || len(rep.Tables) != 2 {
		t.Fatalf("clean target: %+v", rep)
	}
	for _, tb := range rep.Tables {
		want := map[string]int64{"customers": 300, "tags": 121}[tb.Table]
		if tb.SourceRows != want || tb.TargetKeys != want || tb.Drift() != 0 || len(tb.Diffs) != 0 || tb.SourceUnits < 2 {
			t.Errorf("clean %s: %+v", tb.Table, tb.Summary)
		}
	}

	// Corrupt the target behind the live path's back (no shadow marks).
	ctx := testenv.Context(t)
	client, err := spanner.NewClient(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	row, err := client.Single().ReadRow(ctx, "customers", spanner.Key{int64(80)}, []string{"seen"})
	if err != nil {
		t.Fatal(err)
	}
	var seen time.Time
	if err := row.Columns(&seen); err != nil {
		t.Fatal(err)
	}
	cols := []string{"id", "email", "name", "note", "seen", "at", "balance", "score", "doc", "flags", "code", "ver"}
	prot, err := pii.New(ctx, piiCfg, []pii.Table{{Name: "customers", Columns: cols, Key: []int{0}}})
	if err != nil {
		t.Fatal(err)
	}
	protect := func(row []any) []any {
		if err := prot.Protect("customers", row); err != nil {
			t.Fatal(err)
		}
		return row
	}
	extra := func(id int64) *spanner.Mutation {
		return spanner.Insert("customers", cols, protect([]any{id, fmt.Sprintf("canary-extra-%d@example.com", id), nil, nil, nil,
			time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), big.NewRat(1, 1), nil, nil, []string{}, "x", id}))
	}
	row20 := protect([]any{int64(20), "canary-spanner-20@example.com", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil})
	var muts []*spanner.Mutation
	for _, id := range []int64{3, 50, 51, 100, 150, 200, 299} {
		muts = append(muts, spanner.Delete("customers", spanner.Key{id}))
	}
	muts = append(muts, extra(1001), extra(1002), extra(1003),
		spanner.Update("customers", []string{"id", "name"}, []any{int64(10), "Name 10x"}),
		spanner.Update("customers", []string{"id", "email"}, []any{int64(20), row20[1]}),
		spanner.Update("customers", []string{"id", "balance"}, []any{int64(30), big.NewRat(4501, 100)}),
		spanner.Update("customers", []string{"id", "doc"}, []any{int64(40), spanner.NullJSON{Value: map[string]any{"z": 40}, Valid: true}}),
		spanner.Update("customers", []string{"id", "flags"}, []any{int64(60), []string{"b"}}),
		spanner.Update("customers", []string{"id", "note"}, []any{int64(70), ""}),                         // NULL → ''
		spanner.Update("customers", []string{"id", "seen"}, []any{int64(80), seen.Add(time.Microsecond)}), // +1 µs
		spanner.Delete("tags", spanner.Key{"abc"}),                                                        // the key's case changes
		spanner.Insert("tags", []string{"code", "label", "qty"}, []any{"ABC", "the abc tag", int64(7)}),
	)
	if _, err := client.Apply(ctx, muts); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"customers different i10 name", "customers different i20 email", "customers different i30 balance",
		"customers different i40 doc", "customers different i60 flags", "customers different i70 note",
		"customers different i80 seen",
		"customers extra i1001", "customers extra i1002", "customers extra i1003",
		"customers missing i100", "customers missing i150", "customers missing i200", "customers missing i299",
		"customers missing i3", "customers missing i50", "customers missing i51",
		`tags extra s"ABC"`, `tags missing s"abc"`,
	}
	sort.Strings(want)
	const runID = "verify-acceptance-1"
	rep, seenText := verifyRun(t, specPath, 1, "--job", runID)
	if got := differences(rep); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("differences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rep.Status != verify.StatusDrift || rep.Exit != 1 {
		t.Errorf("status %s exit %d, want drift 1", rep.Status, rep.Exit)
	}
	for _, tb := range rep.Tables {
		if tb.Table == "customers" && (tb.Missing != 7 || tb.Extra != 3 || tb.Different != 7 || tb.TargetKeys != 296) {
			t.Errorf("customers counts: %+v", tb.Summary)
		}
	}
	// No canary value anywhere: not the source's, not the target's. The
	// PII column is named (the positive control that the report is read).
	if !strings.Contains(seenText, "email") {
		t.Fatalf("the report does not name the email column")
	}
	if strings.Contains(seenText, "canary") {
		t.Fatalf("a PII canary value leaked into the report, stdout or stderr")
	}

	// Resume: a rerun of the finished run verifies nothing again and
	// reports the same; with one chunk's result taken back it re-verifies
	// exactly that chunk.
	before := unitTimes(t, client, runID)
	rep2, _ := verifyRun(t, specPath, 1, "--job", runID)
	if got := differences(rep2); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("resumed run reports other differences:\n%s", strings.Join(got, "\n"))
	}
	if after := unitTimes(t, client, runID); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("rerunning a finished run re-verified units:\n%v\n%v", before, after)
	}
	if _, err := client.Apply(ctx, []*spanner.Mutation{
		spanner.Delete(verify.UnitsTable, spanner.Key{runID, "customers", verify.SideSource, int64(1)}),
		spanner.Update(checkpoint.Table, []string{"JobId", "TableName", "ChunkId", "Status"}, []any{runID, "customers", int64(1), checkpoint.StatusPending}),
	}); err != nil {
		t.Fatal(err)
	}
	rep3, _ := verifyRun(t, specPath, 1, "--job", runID)
	if got := differences(rep3); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("resumed run reports other differences:\n%s", strings.Join(got, "\n"))
	}
	after := unitTimes(t, client, runID)
	var redone []string
	for k, v := range after {
		if before[k] != v {
			redone = append(redone, k)
		}
	}
	if len(redone) != 1 || redone[0] != "customers/source/1" {
		t.Fatalf("resume re-verified %v, want exactly customers/source/1", redone)
	}

	// --since 250: only customers rows with ver ≥ 250 are compared (299 is
	// missing); tags has no version column and is verified in full.
	rep, _ = verifyRun(t, specPath, 1, "--since", "250")
	wantSince := []string{"customers missing i299", `tags extra s"ABC"`, `tags missing s"abc"`}
	if got := differences(rep); strings.Join(got, "\n") != strings.Join(wantSince, "\n") {
		t.Fatalf("--since 250 differences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantSince, "\n"))
	}

	// Repair: every difference rewritten or removed and re-checked (exit
	// 0), then a plain verify is clean.
	rep, _ = verifyRun(t, specPath, 0, "--repair")
	if rep.Status != verify.StatusRepaired {
		t.Fatalf("repair run: status %s", rep.Status)
	}
	for _, tb := range rep.Tables {
		for _, d := range tb.Diffs {
			if d.Repair != verify.Repaired {
				t.Errorf("%s %s %s: repair %q", tb.Table, d.Kind, d.Key, d.Repair)
			}
		}
	}
	rep, _ = verifyRun(t, specPath, 0)
	if rep.Status != verify.StatusClean {
		t.Fatalf("after repair: %s %v", rep.Status, differences(rep))
	}

	// History: newest first, the clean, drift, since, repaired and clean runs.
	out, errOut, code = runCLI(t, nil, "verify", "--spec", specPath, "--history")
	if code != 0 {
		t.Fatalf("--history: exit %d\n%s\n%s", code, out, errOut)
	}
	var statuses []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == "customers" {
			statuses = append(statuses, f[len(f)-2])
		}
	}
	if strings.Join(statuses, " ") != "clean repaired drift drift clean" {
		t.Fatalf("history statuses (newest first) %v:\n%s", statuses, out)
	}
}

// unitTimes maps each stored unit of a run to its DoneAt.
func unitTimes(t *testing.T, c *spanner.Client, run string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := c.Single().Read(context.Background(), verify.UnitsTable, spanner.Key{run}.AsPrefix(), []string{"TableName", "Side", "UnitId", "DoneAt"}).Do(
		func(r *spanner.Row) error {
			var tb, side string
			var id int64
			var done time.Time
			if err := r.Columns(&tb, &side, &id, &done); err != nil {
				return err
			}
			out[fmt.Sprintf("%s/%s/%d", tb, side, id)] = done.String()
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
