package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/livemigrate/livemigrate/checkpoint"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/livewrite"
	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/pii/piispec"
	"github.com/livemigrate/livemigrate/target"
)

// piiSchema has a column for every policy, a table whose key itself is
// protected (chunk bounds and dead-letter keys must not show it), and a
// row that is dead-lettered (flag 7 is not a boolean).
const piiSchema = `
CREATE TABLE customers (
  id INT NOT NULL PRIMARY KEY,
  email VARCHAR(100) NOT NULL,
  phone VARCHAR(30) NULL,
  pw CHAR(60) NOT NULL,
  ssn VARCHAR(11) NULL,
  nick VARCHAR(30) NOT NULL,
  born DATE NULL
) CHARSET utf8mb4;
CREATE TABLE accounts (
  email VARCHAR(100) NOT NULL PRIMARY KEY,
  balance DECIMAL(10,2) NOT NULL,
  flag TINYINT(1) NOT NULL
) CHARSET utf8mb4`

func piiSpecBody(keyset, uri string) string {
	return fmt.Sprintf(`  - source: customers
    target: Customers
  - source: accounts
    target: Accounts
    chunking: {target_rows: 10, page_rows: 4}
pii:
  keyset:
    kms_key_uri: %s
    file: %s
  tables:
    Customers:
      email: deterministic
      phone: encrypt
      pw: hash
      ssn: redact
      born: encrypt
      nick: {policy: none, reason: public display name}
    Accounts:
      email: deterministic
`, uri, keyset)
}

// canaries are the plaintexts that must never appear outside MySQL and the
// authorised read-back.
type canaries struct {
	emails, phones, pws, ssns []string
}

func (c canaries) all() []string {
	var out []string
	for _, l := range [][]string{c.emails, c.phones, c.pws, c.ssns} {
		out = append(out, l...)
	}
	return out
}

// TestPIIBackfillEndToEnd is issue 12's acceptance: every policy on a real
// backfill through the CLI while a live writer writes through livewrite
// with the protector built from the same spec section; then no canary in
// any Spanner cell (shadow and progress tables included), in any output,
// report or dead-letter file; exact decryption; deterministic ciphertexts
// equal across two runs and across the two paths; an AEAD ciphertext moved
// to another row fails; old and new values decrypt after a rotation.
func TestPIIBackfillEndToEnd(t *testing.T) {
	ctx := testenv.Context(t)
	e := testenv.New(t)
	e.Exec(t, piiSchema)
	run := fmt.Sprintf("%x", time.Now().UnixNano()%1e9)
	var can canaries
	for i := 1; i <= 40; i++ {
		c := struct{ email, phone, pw, ssn string }{
			fmt.Sprintf("canary.%s.%d@example.com", run, i), fmt.Sprintf("+1 415 555 %04d", 1000+i),
			fmt.Sprintf("$2b$12$canary%s%040d", run, i)[:60], fmt.Sprintf("9%02d-%02d-%04d", i, i%90+10, 1000+i),
		}
		can.emails, can.phones, can.pws, can.ssns = append(can.emails, c.email), append(can.phones, c.phone), append(can.pws, c.pw), append(can.ssns, c.ssn)
		e.Exec(t, fmt.Sprintf("INSERT INTO customers VALUES (%d, '%s', '%s', '%s', '%s', 'nick%d', '1980-01-%02d')", i, c.email, c.phone, c.pw, c.ssn, i, i%28+1))
		flag := i % 2
		if i == 13 {
			flag = 7 // dead-lettered: TINYINT(1) 7 is not a boolean
		}
		e.Exec(t, fmt.Sprintf("INSERT INTO accounts VALUES ('%s', %d.25, %d)", c.email, i, flag))
	}
	uri, err := fakekms.NewKeyURI()
	if err != nil {
		t.Fatal(err)
	}
	keyset := filepath.Join(t.TempDir(), "keyset.json")
	if out, errOut, code := runCLI(t, nil, "keys", "create", "--keyset", keyset, "--kms-key-uri", uri); code != 0 {
		t.Fatalf("keys create: exit %d\n%s%s", code, out, errOut)
	}
	specPath := e.SpecYAML(t, piiSpecBody(keyset, uri))
	var outputs bytes.Buffer // everything any command printed
	cli := func(args ...string) (string, string, int) {
		out, errOut, code := runCLI(t, nil, args...)
		outputs.WriteString(out + errOut)
		return out, errOut, code
	}
	if out, errOut, code := cli("plan", "--spec", specPath, "--apply"); code != 0 {
		t.Fatalf("plan --apply: exit %d\n%s%s", code, out, errOut)
	}
	// The engine's own tables exist before the application writes (DDL
	// cannot run next to live read-write transactions on the emulator).
	if err := checkpoint.Ensure(ctx, e.SpannerDB); err != nil {
		t.Fatal(err)
	}

	// The live path: the application's protector from the same spec
	// section (without the spec package), writing while the backfill runs:
	// a new customer sharing row 1's e-mail, and an update of row 2.
	cfg, err := piispec.Load(specPath)
	if err != nil {
		t.Fatal(err)
	}
	client, err := target.Client(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	custCols := []string{"id", "email", "phone", "pw", "ssn", "nick", "born"}
	custTable := livewrite.Table{Name: "Customers", Columns: custCols, Key: []string{"id"}}
	piiTables, err := livewrite.PIITables(custTable)
	if err != nil {
		t.Fatal(err)
	}
	prot, err := pii.New(ctx, *cfg, piiTables)
	if err != nil {
		t.Fatal(err)
	}
	lw, err := livewrite.New(client, custTable)
	if err != nil {
		t.Fatal(err)
	}
	if err := lw.SetProtector(prot); err != nil {
		t.Fatal(err)
	}
	liveRow := func(id int64, email, phone string) []any {
		return []any{id, email, phone, can.pws[0], can.ssns[0], fmt.Sprintf("live%d", id), civil.Date{Year: 1999, Month: 9, Day: 9}}
	}
	var wg sync.WaitGroup
	liveErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			// After MySQL, as the contract says.
			if _, err := e.MySQL.ExecContext(ctx, "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, '1999-09-09') ON DUPLICATE KEY UPDATE phone = VALUES(phone)",
				1000+i, can.emails[0], can.phones[1], can.pws[0], can.ssns[0], fmt.Sprintf("live%d", 1000+i)); err != nil {
				liveErr <- err
				return
			}
			if err := lw.Upsert(ctx, "Customers", liveRow(int64(1000+i), can.emails[0], can.phones[1])); err != nil {
				liveErr <- err
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	report := filepath.Join(t.TempDir(), "report.json")
	dlDir := filepath.Join(t.TempDir(), "dead-letters")
	out, errOut, code := cli("backfill", "--spec", specPath, "--job-id", "piirun1", "--report-json", report, "--dead-letter", dlDir, "--log-level", "debug")
	wg.Wait()
	select {
	case err := <-liveErr:
		t.Fatalf("live writer: %v", err)
	default:
	}
	if code != 0 {
		t.Fatalf("backfill: exit %d\n%s\n%s", code, out, errOut)
	}
	rep := readReport(t, report)
	for _, tr := range rep.Tables {
		if tr.Source == "accounts" && (tr.RowsDead != 1 || tr.Chunks < 3) {
			t.Errorf("accounts: %d dead letters in %d chunks; want 1 dead letter and several chunks (protected key bounds)", tr.RowsDead, tr.Chunks)
		}
	}

	// 1. No canary in any cell of any table: data, shadow, progress.
	hits, cells := testenv.FindInSpanner(t, ctx, client, can.all()...)
	if cells < 300 {
		t.Fatalf("the scan read only %d cells", cells)
	}
	if len(hits) > 0 {
		t.Errorf("plaintext PII in Spanner: %v", hits)
	}
	// Stored types are ciphertext (and a hash of 32 bytes), the redacted
	// column is NULL, the `none` column is plain.
	r, err := client.Single().ReadRow(ctx, "Customers", spanner.Key{int64(3)}, []string{"email", "phone", "pw", "ssn", "nick", "born"})
	if err != nil {
		t.Fatal(err)
	}
	var email, phone, pw, born []byte
	var ssn, nick spanner.NullString
	if err := r.Columns(&email, &phone, &pw, &ssn, &nick, &born); err != nil {
		t.Fatalf("stored types: %v", err)
	}
	if len(email) == 0 || len(phone) == 0 || len(pw) != 32 || len(born) == 0 || ssn.Valid || nick.StringVal != "nick3" {
		t.Errorf("row 3 as stored: email %d B, phone %d B, pw %d B, born %d B, ssn %v, nick %q", len(email), len(phone), len(pw), len(born), ssn, nick.StringVal)
	}

	// 2. Exact decryption through the authorised read-back.
	dec, errOut2, code := runCLI(t, nil, "pii", "decrypt", "--spec", specPath, "--table", "Customers", "--key", "3", "--json")
	if code != 0 {
		t.Fatalf("pii decrypt: exit %d\n%s%s", code, dec, errOut2)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(dec), &got); err != nil {
		t.Fatalf("%v: %s", err, dec)
	}
	if got["email"] != can.emails[2] || got["phone"] != can.phones[2] || got["born"] != "1980-01-04" || got["nick"] != "nick3" {
		t.Errorf("decrypted row 3 = %v", got)
	}

	// 3. Deterministic: the live path's e-mail of row 1000 equals the
	// backfill's of row 1 (same plaintext), byte for byte.
	email1 := readBytes(t, ctx, client, "Customers", spanner.Key{int64(1)}, "email")
	if live := readBytes(t, ctx, client, "Customers", spanner.Key{int64(1000)}, "email"); !bytes.Equal(email1, live) {
		t.Errorf("deterministic e-mail differs between the backfill and the live path")
	}
	// ... and across two separate runs: a second backfill into another
	// Spanner database stores the same ciphertext.
	e2 := testenv.New(t)
	spec2 := filepath.Join(t.TempDir(), "spec2.yaml")
	body, _ := os.ReadFile(specPath)
	if err := os.WriteFile(spec2, bytes.Replace(body, []byte(e.SpannerDB), []byte(e2.SpannerDB), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := cli("plan", "--spec", spec2, "--apply"); code != 0 {
		t.Fatalf("plan --apply (2): exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := cli("backfill", "--spec", spec2, "--dead-letter", filepath.Join(t.TempDir(), "dl2")); code != 0 {
		t.Fatalf("backfill (2): exit %d\n%s%s", code, out, errOut)
	}
	client2, err := target.Client(ctx, e2.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	if again := readBytes(t, ctx, client2, "Customers", spanner.Key{int64(1)}, "email"); !bytes.Equal(email1, again) {
		t.Errorf("deterministic e-mail differs between two runs")
	}

	// 4. An AEAD ciphertext moved to another row does not decrypt there.
	phone1 := readBytes(t, ctx, client, "Customers", spanner.Key{int64(1)}, "phone")
	if _, err := client.Apply(ctx, []*spanner.Mutation{spanner.Update("Customers", []string{"id", "phone"}, []any{int64(2), phone1})}); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCLI(t, nil, "pii", "decrypt", "--spec", specPath, "--table", "Customers", "--key", "2", "--columns", "phone"); code == 0 || strings.Contains(out, can.phones[0]) {
		t.Errorf("a phone ciphertext moved to row 2 decrypted: exit %d\n%s%s", code, out, errOut)
	}

	// 5. Rotation: a value written after `keys rotate` uses the new key;
	// old and new values both decrypt.
	if out, errOut, code := cli("keys", "rotate", "--spec", specPath); code != 0 {
		t.Fatalf("keys rotate: exit %d\n%s%s", code, out, errOut)
	}
	prot2, err := pii.New(ctx, *cfg, piiTables)
	if err != nil {
		t.Fatal(err)
	}
	if err := lw.SetProtector(prot2); err != nil {
		t.Fatal(err)
	}
	if err := lw.Upsert(ctx, "Customers", liveRow(2000, can.emails[5], can.phones[5])); err != nil {
		t.Fatal(err)
	}
	if newPhone := readBytes(t, ctx, client, "Customers", spanner.Key{int64(2000)}, "phone"); bytes.Equal(newPhone[:5], phone1[:5]) {
		t.Errorf("a value written after the rotation carries the old key id")
	}
	for id, want := range map[string]string{"4": can.phones[3], "2000": can.phones[5]} {
		out, errOut, code := runCLI(t, nil, "pii", "decrypt", "--spec", specPath, "--table", "Customers", "--key", id, "--columns", "phone")
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("after rotation, row %s: exit %d\n%s%s", id, code, out, errOut)
		}
	}

	// 6. The dry run on Dataflow: the job (its options and DoFns) holds
	// no canary.
	cli("backfill", "--spec", specPath, "--runner", "dataflow", "--dry_run", "--project", "p", "--region", "us-central1",
		"--staging_location", "gs://b/staging", "--worker_binary", testenv.Binary(t), "--log-level", "debug")

	// 7. No canary in any output, report or dead-letter file; the dead
	// letter of the protected-key table carries a key token.
	var files bytes.Buffer
	for _, p := range append(globAll(t, dlDir), report) {
		b, _ := os.ReadFile(p)
		files.Write(b)
	}
	if !strings.Contains(files.String(), `"key":"pii:`) {
		t.Errorf("the dead letter of Accounts has no key token:\n%s", files.String())
	}
	for name, text := range map[string]string{"outputs": outputs.String(), "files": files.String()} {
		if found := findCanary(text, can.all()); found != "" {
			t.Errorf("canary %q found in %s", found, name)
		}
	}
	// Positive control: the search does see a planted canary, also base64.
	if findCanary("x"+base64.StdEncoding.EncodeToString([]byte("..."+can.emails[7]+"..")), can.all()) == "" ||
		findCanary("a "+can.phones[9], can.all()) == "" {
		t.Fatal("the canary search cannot find a planted canary")
	}
	// The progress table holds no plaintext bound (covered by the scan
	// above) and its bounds decrypt back for resume: a rerun of the same
	// job finds every chunk done.
	out, errOut, code = cli("backfill", "--spec", specPath, "--job-id", "piirun1", "--dead-letter", dlDir)
	if code != 0 || !strings.Contains(out, "Accounts") {
		t.Errorf("resume of the finished job: exit %d\n%s%s", code, out, errOut)
	}
}

func readBytes(t *testing.T, ctx context.Context, c *spanner.Client, table string, key spanner.Key, col string) []byte {
	t.Helper()
	r, err := c.Single().ReadRow(ctx, table, key, []string{col})
	if err != nil {
		t.Fatalf("read %s %v: %v", table, key, err)
	}
	var b []byte
	if err := r.Columns(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

func globAll(t *testing.T, dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// findCanary returns the first canary found in text, plain or base64 at
// any alignment, "" when none.
func findCanary(text string, canaries []string) string {
	for _, c := range canaries {
		if strings.Contains(text, c) {
			return c
		}
		for shift := 0; shift < 3; shift++ {
			enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", shift) + c))
			// The stable middle of the encoding, away from padding effects.
			if mid := enc[4*((shift+2)/3)+4 : len(enc)-4]; len(mid) > 8 && strings.Contains(text, mid) {
				return c
			}
		}
	}
	return ""
}

// TestPIIFailsClosed: a column that looks personal with no decision stops
// the backfill (exit 2, naming it) and plan lists it with its detector; a
// wrong key stops the backfill before any row reaches Spanner.
func TestPIIFailsClosed(t *testing.T) {
	ctx := testenv.Context(t)
	e := testenv.New(t)
	e.Exec(t, "CREATE TABLE leads (id INT PRIMARY KEY, contact VARCHAR(100))",
		"INSERT INTO leads SELECT seq, CONCAT('lead', seq, '@example.org') FROM seq_1_to_50")
	specPath := e.SpecYAML(t, "  - source: leads\n")
	out, errOut, code := runCLI(t, nil, "plan", "--spec", specPath, "--ddl")
	if code != 0 || !strings.Contains(errOut, "leads.contact  UNDECIDED  [email]") {
		t.Errorf("plan does not list the undecided column with its detector: exit %d\n%s", code, errOut)
	}
	if out, errOut, code = runCLI(t, nil, "plan", "--spec", specPath, "--apply"); code != 0 {
		t.Fatalf("plan --apply: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCLI(t, nil, "backfill", "--spec", specPath)
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if code != 2 || !strings.Contains(lines[len(lines)-1], "leads.contact (email)") {
		t.Errorf("backfill with an undecided column: exit %d, want 2 naming leads.contact\n%s", code, errOut)
	}

	// A keyset wrapped by another KMS key: nothing reaches Spanner.
	uri, _ := fakekms.NewKeyURI()
	other, _ := fakekms.NewKeyURI()
	keyset := filepath.Join(t.TempDir(), "keyset.json")
	if out, errOut, code := runCLI(t, nil, "keys", "create", "--keyset", keyset, "--kms-key-uri", uri); code != 0 {
		t.Fatalf("keys create: exit %d\n%s%s", code, out, errOut)
	}
	wrong := e.SpecYAML(t, fmt.Sprintf("  - source: leads\npii:\n  keyset: {kms_key_uri: %s, file: %s}\n  tables:\n    leads:\n      contact: encrypt\n", other, keyset))
	out, errOut, code = runCLI(t, nil, "backfill", "--spec", wrong)
	if code == 0 || !strings.Contains(errOut, "keyset") {
		t.Errorf("backfill with a keyset the KMS key does not unwrap: exit %d\n%s%s", code, out, errOut)
	}
	if n, err := target.Count(ctx, e.SpannerDB, "leads"); err != nil || n != 0 {
		t.Errorf("rows reached Spanner before the keys were checked: %d (%v)", n, err)
	}
}
