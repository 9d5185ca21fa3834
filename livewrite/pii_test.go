package livewrite_test

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"
	"google.golang.org/grpc/codes"

	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/livewrite"
	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/pii/piispec"
	"github.com/livemigrate/livemigrate/target"
)

// The target schema as the backfill's DDL makes it for these policies.
var piiDDL = []string{
	`CREATE TABLE customers (email BYTES(MAX) NOT NULL, name BYTES(MAX), phone BYTES(MAX), pw BYTES(32), note STRING(MAX), nick STRING(MAX), born BYTES(MAX)) PRIMARY KEY (email)`,
	`CREATE TABLE lm_shadow_customers (email BYTES(MAX) NOT NULL, lm_deleted BOOL NOT NULL, lm_commit_ts TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true)) PRIMARY KEY (email)`,
	`CREATE TABLE accounts (id INT64 NOT NULL, email BYTES(MAX), iban BYTES(MAX)) PRIMARY KEY (id)`,
	`CREATE TABLE lm_shadow_accounts (id INT64 NOT NULL, lm_deleted BOOL NOT NULL, lm_commit_ts TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true)) PRIMARY KEY (id)`,
}

const piiSpec = `source:
  dsn: app@tcp(db:3306)/shop
target:
  database: projects/p/instances/i/databases/d
tables:
  - source: customers
  - source: accounts
pii:
  keyset:
    file: KEYSET
    kms_key_uri: KMSURI
  tables:
    customers:
      email: {policy: deterministic, domain: email}
      name: encrypt
      phone: encrypt
      pw: hash
      note: {policy: redact, value: "[redacted]"}
      nick: {policy: none, reason: "public display name"}
      born: encrypt
    accounts:
      email: {policy: deterministic, domain: email}
      iban: encrypt
`

var (
	customerCols = []string{"email", "name", "phone", "pw", "note", "nick", "born"}
	accountCols  = []string{"id", "email", "iban"}
	tables       = []livewrite.Table{
		{Name: "customers", Columns: customerCols, Key: []string{"email"}},
		{Name: "accounts", Columns: accountCols, Key: []string{"id"}},
	}
)

// Canaries: personal values that must never appear in clear in Spanner.
const (
	cEmail = "canary.mail.7f3a@example.com"
	cName  = "Canary Name 7f3a"
	cPhone = "+49 30 7f3a 0958"
	cPw    = "canary-password-7f3a"
	cNote  = "canary note 7f3a"
	cIBAN  = "DE89370400440532013000"
)

var born = civil.Date{Year: 1984, Month: 2, Day: 29}

func piiEnv(t *testing.T) (*pii.Config, string) {
	t.Helper()
	uri, err := fakekms.NewKeyURI()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ks := filepath.Join(dir, "keyset.json")
	if _, err := pii.CreateKeyset(context.Background(), ks, uri, false); err != nil {
		t.Fatal(err)
	}
	cfg, err := piispec.Parse("spec.yaml", []byte(strings.NewReplacer("KEYSET", ks, "KMSURI", uri).Replace(piiSpec)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, uri
}

func spannerDB(t *testing.T) (*spanner.Client, string) {
	t.Helper()
	e := testenv.New(t)
	ctx := testenv.Context(t)
	if err := target.ApplyDDL(ctx, e.SpannerDB, piiDDL); err != nil {
		t.Fatal(err)
	}
	c, err := target.Client(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	return c, e.SpannerDB
}

func readRow(t *testing.T, c *spanner.Client, table string, key spanner.Key, cols []string) []any {
	t.Helper()
	r, err := c.Single().ReadRow(testenv.Context(t), table, key, cols)
	if err != nil {
		t.Fatalf("read %s %v: %v", table, key, err)
	}
	out := make([]any, len(cols))
	for i := range cols {
		var g spanner.GenericColumnValue
		if err := r.Column(i, &g); err != nil {
			t.Fatal(err)
		}
		switch cols[i] {
		case "note", "nick":
			var s spanner.NullString
			r.Column(i, &s)
			if s.Valid {
				out[i] = s.StringVal
			}
		case "id":
			var n int64
			r.Column(i, &n)
			out[i] = n
		default:
			var b []byte
			r.Column(i, &b)
			out[i] = b
		}
	}
	return out
}

// TestLivePathProtectsLikeBackfill writes one customer through livewrite
// (with the protector built from the spec's pii section) and the same
// customer as the backfill writes it (Protect on the converted row, then an
// Insert mutation) into a second database, reads both back and compares:
// deterministic and hash cells are equal, encrypt cells decrypt to the same
// plaintext, the backfill's insert of the live-written key collides (the
// stored keys are identical), deletes protect their key, and no canary is
// anywhere in either database, shadow tables included.
func TestLivePathProtectsLikeBackfill(t *testing.T) {
	ctx := testenv.Context(t)
	cfg, _ := piiEnv(t)
	liveDB, _ := spannerDB(t)
	bfDB, _ := spannerDB(t)

	// The application: its own protector from the same spec section.
	lw, err := livewrite.New(liveDB, tables...)
	if err != nil {
		t.Fatal(err)
	}
	lt, err := livewrite.PIITables(tables...)
	if err != nil {
		t.Fatal(err)
	}
	liveP, err := pii.New(ctx, *cfg, lt)
	if err != nil {
		t.Fatal(err)
	}
	if err := lw.SetProtector(liveP); err != nil {
		t.Fatal(err)
	}
	// Application-style values: pointers, Null types, int for INT64.
	name := cName
	appRow := []any{cEmail, &name, spanner.NullString{StringVal: cPhone, Valid: true}, cPw, cNote, "public-nick", spanner.NullDate{Date: born, Valid: true}}
	if err := lw.Upsert(ctx, "customers", appRow); err != nil {
		t.Fatal(err)
	}
	if appRow[0] != cEmail || appRow[3] != cPw {
		t.Fatal("Upsert modified the caller's row")
	}
	m, err := lw.UpsertMutations("accounts", []any{1, cEmail, cIBAN})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := liveDB.Apply(ctx, m); err != nil {
		t.Fatal(err)
	}

	// The backfill: another protector instance, rows as the converter
	// produces them.
	bfP, err := pii.New(ctx, *cfg, []pii.Table{{Name: "customers", Columns: customerCols, Key: []int{0}}, {Name: "accounts", Columns: accountCols, Key: []int{0}}})
	if err != nil {
		t.Fatal(err)
	}
	converted := func() []any { return []any{cEmail, cName, cPhone, cPw, cNote, "public-nick", born} }
	bfRow := converted()
	if err := bfP.Protect("customers", bfRow); err != nil {
		t.Fatal(err)
	}
	acct := []any{int64(1), cEmail, cIBAN}
	if err := bfP.Protect("accounts", acct); err != nil {
		t.Fatal(err)
	}
	if _, err := bfDB.Apply(ctx, []*spanner.Mutation{spanner.Insert("customers", customerCols, bfRow), spanner.Insert("accounts", accountCols, acct)}); err != nil {
		t.Fatal(err)
	}
	// The backfill's insert of the same customer into the live database
	// finds the live row: both paths store the same key.
	if _, err := liveDB.Apply(ctx, []*spanner.Mutation{spanner.Insert("customers", customerCols, bfRow)}); spanner.ErrCode(err) != codes.AlreadyExists {
		t.Fatalf("backfill insert of the live-written key: %v, want AlreadyExists", err)
	}

	key := []any{cEmail}
	if err := bfP.ProtectKey("customers", key); err != nil {
		t.Fatal(err)
	}
	live := readRow(t, liveDB, "customers", spanner.Key(key), customerCols)
	back := readRow(t, bfDB, "customers", spanner.Key(key), customerCols)
	if !bytes.Equal(live[0].([]byte), back[0].([]byte)) || !bytes.Equal(live[3].([]byte), back[3].([]byte)) || len(live[3].([]byte)) != 32 {
		t.Fatal("deterministic key or hash differ between the live path and the backfill")
	}
	if bytes.Equal(live[1].([]byte), back[1].([]byte)) {
		t.Fatal("encrypt must be randomised")
	}
	if live[4] != "[redacted]" || back[4] != "[redacted]" || live[5] != "public-nick" {
		t.Fatalf("redact/none: %v / %v", live[4:6], back[4:6])
	}
	storedEmail := live[0].([]byte)
	want := []any{cEmail, cName, cPhone, live[3], "[redacted]", "public-nick", born}
	for _, row := range [][]any{live, back} {
		if err := bfP.Reveal("customers", row); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(row, want) {
			t.Fatalf("revealed %v, want %v", row, want)
		}
	}
	la := readRow(t, liveDB, "accounts", spanner.Key{int64(1)}, accountCols)
	ba := readRow(t, bfDB, "accounts", spanner.Key{int64(1)}, accountCols)
	if !bytes.Equal(la[1].([]byte), ba[1].([]byte)) || !bytes.Equal(la[1].([]byte), storedEmail) {
		t.Fatal("deterministic e-mail with a shared domain must be equal across tables and paths")
	}
	for _, r := range [][]any{la, ba} {
		if err := liveP.Reveal("accounts", r); err != nil || r[2] != cIBAN {
			t.Fatalf("account IBAN: %v %v", r, err)
		}
	}

	canaries := []string{cEmail, cName, cPhone, cPw, cNote, cIBAN, "7f3a"}
	for name, c := range map[string]*spanner.Client{"live": liveDB, "backfill": bfDB} {
		if hits, cells := testenv.FindInSpanner(t, ctx, c, canaries...); len(hits) > 0 || cells < 10 {
			t.Fatalf("%s database: canary plaintext in %v (%d cells read)", name, hits, cells)
		}
	}

	// Deletes protect their key: the row goes, the tombstone's key is the
	// stored ciphertext.
	if err := lw.Delete(ctx, "customers", spanner.Key{cEmail}); err != nil {
		t.Fatal(err)
	}
	if _, err := liveDB.Single().ReadRow(ctx, "customers", spanner.Key(key), []string{"email"}); spanner.ErrCode(err) != codes.NotFound {
		t.Fatalf("live delete with a protected key left the row: %v", err)
	}
	r, err := liveDB.Single().ReadRow(ctx, livewrite.ShadowTable("customers"), spanner.Key(key), []string{livewrite.ColDeleted})
	var deleted bool
	if err != nil || r.Columns(&deleted) != nil || !deleted {
		t.Fatalf("tombstone under the stored key: %v", err)
	}
	dm, err := lw.DeleteMutations("accounts", spanner.Key{int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := liveDB.Apply(ctx, dm); err != nil {
		t.Fatal(err)
	}
	if hits, _ := testenv.FindInSpanner(t, ctx, liveDB, canaries...); len(hits) > 0 {
		t.Fatalf("after deletes: canary plaintext in %v", hits)
	}

	// Negative control: the scan does find a plaintext canary.
	if _, err := liveDB.Apply(ctx, []*spanner.Mutation{spanner.InsertOrUpdate("customers", []string{"email", "nick"}, []any{[]byte("x"), "x " + cName})}); err != nil {
		t.Fatal(err)
	}
	if hits, _ := testenv.FindInSpanner(t, ctx, liveDB, cName); !reflect.DeepEqual(hits, []string{"customers.nick"}) {
		t.Fatalf("the canary scan must find plaintext: %v", hits)
	}
}

// TestLivePathFailsClosed: a protector for other table shapes is refused,
// and a value that cannot be protected fails the write instead of writing
// it in clear.
func TestLivePathFailsClosed(t *testing.T) {
	ctx := testenv.Context(t)
	cfg, _ := piiEnv(t)
	db, _ := spannerDB(t)
	lw, err := livewrite.New(db, tables...)
	if err != nil {
		t.Fatal(err)
	}
	onlyAccounts, err := pii.New(ctx, *cfg, []pii.Table{{Name: "accounts", Columns: accountCols, Key: []int{0}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := lw.SetProtector(onlyAccounts); err == nil || !strings.Contains(err.Error(), "table customers has protected columns but the protector was not built for it") {
		t.Fatalf("a protector without the customers table: %v", err)
	}
	reordered := []pii.Table{{Name: "customers", Columns: []string{"name", "email", "phone", "pw", "note", "nick", "born"}, Key: []int{1}},
		{Name: "accounts", Columns: accountCols, Key: []int{0}}}
	p, err := pii.New(ctx, *cfg, reordered)
	if err != nil {
		t.Fatal(err)
	}
	if err := lw.SetProtector(p); err == nil || !strings.Contains(err.Error(), "the protector was built for columns") {
		t.Fatalf("a protector for another column order: %v", err)
	}
	lt, _ := livewrite.PIITables(tables...)
	good, err := pii.New(ctx, *cfg, lt)
	if err != nil {
		t.Fatal(err)
	}
	if err := lw.SetProtector(good); err != nil {
		t.Fatal(err)
	}
	if err := lw.Upsert(ctx, "customers", []any{cEmail, struct{ S string }{cName}, nil, nil, nil, nil, nil}); err == nil || !strings.Contains(err.Error(), "customers.name: values of Go type") || strings.Contains(err.Error(), "7f3a") {
		t.Fatalf("an unprotectable value: %v", err)
	}
	if hits, cells := testenv.FindInSpanner(t, ctx, db, cEmail, cName); len(hits) > 0 || cells != 0 {
		t.Fatalf("a failed protect wrote something: %v, %d cells", hits, cells)
	}
}
