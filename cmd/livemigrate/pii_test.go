package main

import (
	"context"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/target"
)

var keyRow = regexp.MustCompile(`(?m)^(encrypt|deterministic|hash)\s+(\d+)\s+(primary)?\s*ENABLED\s+(AesGcmKey|AesSivKey|HmacPrfKey)\s+(TINK|RAW)$`)

// keysOf parses `keys show` output into keyset → key ids, primary first.
func keysOf(t *testing.T, out string) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	for _, m := range keyRow.FindAllStringSubmatch(out, -1) {
		if m[3] == "primary" {
			got[m[1]] = append([]string{m[2]}, got[m[1]]...)
		} else {
			got[m[1]] = append(got[m[1]], m[2])
		}
	}
	return got
}

// TestKeysCLI: keys create, show and rotate on a keyset wrapped by a fake
// KMS key; values protected before the rotation still decrypt after it;
// bad input exits 2 with one line; no key material is printed.
func TestKeysCLI(t *testing.T) {
	ctx := context.Background()
	uri, err := fakekms.NewKeyURI()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keyset.json")
	out, errOut, code := runCLI(t, nil, "keys", "create", "--keyset", path, "--kms-key-uri", uri)
	if code != 0 {
		t.Fatalf("keys create: exit %d\n%s%s", code, out, errOut)
	}
	created := keysOf(t, out)
	if len(created) != 3 || len(created["encrypt"]) != 1 || len(created["deterministic"]) != 1 || len(created["hash"]) != 1 {
		t.Fatalf("keys create printed %v:\n%s", created, out)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("keyset file mode: %v %v", st, err)
	}
	secret := strings.TrimPrefix(uri, "fake-kms://")
	checkNoMaterial := func(s string) {
		t.Helper()
		if strings.Contains(s, secret[:24]) || strings.Contains(s, `"value"`) {
			t.Fatalf("output holds key material:\n%s", s)
		}
	}
	checkNoMaterial(out + errOut)

	// A value protected before the rotation.
	ks := pii.Keyset{File: path, KMSKeyURI: uri}
	tbl := []pii.Table{{Name: "t", Columns: []string{"id", "v"}, Key: []int{0}}}
	cfg := pii.Config{Keyset: ks, Tables: map[string]map[string]pii.Column{"t": {"v": {Policy: pii.PolicyEncrypt}}}}
	p, err := pii.New(ctx, cfg, tbl)
	if err != nil {
		t.Fatal(err)
	}
	row := []any{int64(1), "before rotation"}
	if err := p.Protect("t", row); err != nil {
		t.Fatal(err)
	}

	out, errOut, code = runCLI(t, nil, "keys", "rotate", "--keyset", path, "--kms-key-uri", uri, "--keysets", "all")
	if code != 0 {
		t.Fatalf("keys rotate: exit %d\n%s%s", code, out, errOut)
	}
	checkNoMaterial(out + errOut)
	out, errOut, code = runCLI(t, nil, "keys", "show", "--keyset", path, "--kms-key-uri", uri)
	if code != 0 {
		t.Fatalf("keys show: exit %d\n%s%s", code, out, errOut)
	}
	checkNoMaterial(out + errOut)
	rotated := keysOf(t, out)
	for _, ksName := range pii.Purposes {
		k := rotated[ksName]
		if len(k) != 2 || k[1] != created[ksName][0] || k[0] == created[ksName][0] {
			t.Fatalf("%s after rotate: %v (created %v); a new primary and the old key kept:\n%s", ksName, k, created[ksName], out)
		}
	}
	q, err := pii.New(ctx, cfg, tbl)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Reveal("t", row); err != nil || row[1] != "before rotation" {
		t.Fatalf("a value from before the rotation: %v %v", row, err)
	}

	// Bad input: exit 2, one line, the flag or file named.
	other, _ := fakekms.NewKeyURI()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"keys", "create", "--keyset", path, "--kms-key-uri", uri}, "already exists"},
		{[]string{"keys", "create", "--keyset", path + ".2"}, "--kms-key-uri is required"},
		{[]string{"keys", "create", "--keyset", path + ".2", "--kms-key-uri", "gcp-kms://projects/p/keyRings/r"}, "must look like gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K"},
		{[]string{"keys", "create", "--keyset", path + ".2", "--kms-key-uri", "aws-kms://arn:aws:kms:eu"}, "unsupported KMS"},
		{[]string{"keys", "show", "--keyset", path, "--kms-key-uri", other}, "cannot unwrap keyset"},
		{[]string{"keys", "show", "--keyset", path + ".missing", "--kms-key-uri", uri}, "cannot read keyset file"},
		{[]string{"keys", "show", "--keyset", path}, "--kms-key-uri is required: the KMS key that wraps"},
		{[]string{"keys", "rotate", "--keyset", path, "--kms-key-uri", uri, "--keysets", "aead"}, `--keysets "aead"`},
		{[]string{"keys"}, "needs a subcommand: create, rotate, show"},
	} {
		out, errOut, code := runCLI(t, nil, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
		checkNoMaterial(out + errOut)
		if strings.Contains(errOut, strings.TrimPrefix(other, "fake-kms://")[:24]) {
			t.Errorf("stderr holds the other fake key: %q", errOut)
		}
	}
}

// TestPIIDecryptCLI: rows protected as the backfill protects them are read
// back by plaintext key, printed exactly, to stdout only.
func TestPIIDecryptCLI(t *testing.T) {
	ctx := testenv.Context(t)
	e := testenv.New(t)
	ks := filepath.Join(t.TempDir(), "dev-keyset.json")
	if _, err := pii.CreateKeyset(ctx, ks, "", true); err != nil {
		t.Fatal(err)
	}
	specPath := e.SpecYAML(t, `  - source: customers
  - source: orders
pii:
  keyset:
    insecure_cleartext_file: `+ks+`
  tables:
    customers:
      email: {policy: deterministic, domain: email}
      name: encrypt
      born: encrypt
      balance: encrypt
      pw: hash
      nick: {policy: none, reason: "public display name"}
    orders:
      customer: {policy: deterministic, domain: email}
      note: encrypt
`)
	if err := target.ApplyDDL(ctx, e.SpannerDB, []string{
		"CREATE TABLE customers (email BYTES(MAX) NOT NULL, name BYTES(MAX), born BYTES(MAX), balance BYTES(MAX), pw BYTES(32), nick STRING(MAX)) PRIMARY KEY (email)",
		"CREATE TABLE orders (customer BYTES(MAX) NOT NULL, id INT64 NOT NULL, note BYTES(MAX), total NUMERIC) PRIMARY KEY (customer, id)",
	}); err != nil {
		t.Fatal(err)
	}
	// Rows as the backfill writes them: converted values, protected.
	cfg := pii.Config{Keyset: pii.Keyset{InsecureCleartextFile: ks}}
	cfg.Tables = map[string]map[string]pii.Column{
		"customers": {"email": {Policy: pii.PolicyDeterministic, Domain: "email"}, "name": {Policy: pii.PolicyEncrypt}, "born": {Policy: pii.PolicyEncrypt},
			"balance": {Policy: pii.PolicyEncrypt}, "pw": {Policy: pii.PolicyHash}, "nick": {Policy: pii.PolicyNone, Reason: "r"}},
		"orders": {"customer": {Policy: pii.PolicyDeterministic, Domain: "email"}, "note": {Policy: pii.PolicyEncrypt}},
	}
	custCols := []string{"email", "name", "born", "balance", "pw", "nick"}
	orderCols := []string{"customer", "id", "note", "total"}
	p, err := pii.New(ctx, cfg, []pii.Table{{Name: "customers", Columns: custCols, Key: []int{0}}, {Name: "orders", Columns: orderCols, Key: []int{0, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	bal, _ := new(big.Rat).SetString("-1234.5")
	cust := []any{"zoe@example.com", "Zoë\tCanary", civil.Date{Year: 1984, Month: 2, Day: 29}, bal, "hunter2", "zc"}
	order := []any{"zoe@example.com", int64(7), "ring the bell", big.NewRat(1999, 100)}
	if err := p.Protect("customers", cust); err != nil {
		t.Fatal(err)
	}
	if err := p.Protect("orders", order); err != nil {
		t.Fatal(err)
	}
	client, err := target.Client(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Apply(ctx, []*spanner.Mutation{spanner.Insert("customers", custCols, cust), spanner.Insert("orders", orderCols, order)}); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := runCLI(t, nil, "pii", "decrypt", "--spec", specPath, "--table", "customers", "--key", "zoe@example.com", "--json")
	if code != 0 {
		t.Fatalf("pii decrypt: exit %d\n%s%s", code, out, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	want := map[string]any{"email": "zoe@example.com", "name": "Zoë\tCanary", "born": "1984-02-29", "balance": "-1234.5", "nick": "zc"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	if pw, _ := got["pw"].(string); !strings.HasPrefix(pw, "hash:") || len(pw) != 5+64 {
		t.Errorf("a hash cell prints as hash:HEX: %q", got["pw"])
	}
	if errOut != "" {
		t.Errorf("plaintext goes to stdout only; stderr: %q", errOut)
	}

	// Text mode, a composite key, chosen columns.
	out, errOut, code = runCLI(t, nil, "pii", "decrypt", "--spec", specPath, "--table", "Orders", "--key", "zoe@example.com,7", "--columns", "note,total,customer")
	if code != 0 || out != "note           total  customer\nring the bell  19.99  zoe@example.com\n" {
		t.Fatalf("text mode: exit %d\n%q\n%s", code, out, errOut)
	}

	// A key token, as a dead letter shows it.
	tok, err := p.KeyToken("orders", []any{[]byte("zoe@example.com"), int64(7)})
	if err != nil {
		t.Fatal(err)
	}
	out, _, code = runCLI(t, nil, "pii", "decrypt", "--spec", specPath, "--table", "orders", "--token", tok)
	if code != 0 || out != tok+"\t(0x7a6f65406578616d706c652e636f6d, 7)\n" {
		t.Fatalf("token: exit %d, %q", code, out)
	}

	// Bad input exits 2, a missing row 1; no message holds a value.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--table", "nosuch", "--key", "1"}, 2, `table "nosuch" is not in Spanner database`},
		{[]string{"--table", "customers", "--key", "zoe@example.com", "--columns", "nmae"}, 2, `--columns: table has no column "nmae"`},
		{[]string{"--table", "orders", "--key", "zoe@example.com"}, 2, "--key #1: give 2 comma-separated values, for the key columns (customer, id)"},
		{[]string{"--table", "orders", "--key", "zoe@example.com,seven"}, 2, "--key #1: value 2 is not a INT64"},
		{[]string{"--table", "customers", "--key", "zoe@example.com", "--key", "nobody@example.com"}, 1, "--key #2: no row in customers with this key"},
		{[]string{"--table", "orders", "--token", "pii:AAAA"}, 2, "--token #1: pii: the token is not a key token of table orders"},
		{[]string{"--table", "customers"}, 2, "at least one --key or --token"},
	} {
		out, errOut, code := runCLI(t, nil, append([]string{"pii", "decrypt", "--spec", specPath}, c.args...)...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.want)
		}
		if strings.Contains(errOut, "example.com") || (code != 0 && strings.Contains(out, "Canary")) {
			t.Errorf("%v: a value leaked: %q %q", c.args, out, errOut)
		}
	}
}
