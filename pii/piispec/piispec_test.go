package piispec_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/livemigrate/livemigrate/pii/piispec"
	"github.com/livemigrate/livemigrate/spec"
)

const doc = `source:
  dsn: user@tcp(127.0.0.1:3306)/shop
  password_env: SHOP_PW
target:
  database: projects/p/instances/i/databases/d
tables:
  - source: customers
    target: Customers
    columns: {rename: {mail: Email}}
  - source: orders
pii:
  keyset:
    insecure_cleartext_file: dev-keyset.json
  tables:
    customers:
      Email: {policy: deterministic, domain: email}
      phone: encrypt
    orders:
      note: {policy: none, reason: "free text reviewed: no personal data"}
`

// TestSameAsSpec: the application's reader gives exactly the Config the
// backfill's spec.Parse gives.
func TestSameAsSpec(t *testing.T) {
	s, err := spec.Parse("s.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	c, err := piispec.Parse("s.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, s.PII) {
		t.Fatalf("piispec %+v != spec %+v", c, s.PII)
	}
	p := filepath.Join(t.TempDir(), "s.yaml")
	os.WriteFile(p, []byte(doc), 0o600)
	if c2, err := piispec.Load(p); err != nil || !reflect.DeepEqual(c2, c) {
		t.Fatalf("Load: %v", err)
	}
	none, err := piispec.Parse("s.yaml", []byte(strings.SplitN(doc, "pii:", 2)[0]))
	if err != nil || none.Enabled() {
		t.Fatalf("a spec without pii: %+v %v", none, err)
	}
}

// TestErrors: the same strictness and checks as the spec, one line each.
func TestErrors(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{strings.Replace(doc, "phone: encrypt", "phone: {policy: encrypt, reasn: x}", 1), `s.yaml:17: unknown key "reasn" in a pii column`},
		{strings.Replace(doc, "  keyset:", "  keyset:\n    kms: x", 1), `s.yaml:13: unknown key "kms" in pii.keyset`},
		{doc + "  audit: off\n", `s.yaml:20: unknown key "audit" in pii;`},
		{strings.Replace(doc, "    orders:", "    order:", 1), "pii.tables.order: no entry in tables has this target"},
		{strings.Replace(doc, `reason: "free text reviewed: no personal data"`, `reason: " "`, 1), "pii.tables.orders.note: policy none needs a reason"},
		{"pii: [", "s.yaml: "},
	} {
		_, err := piispec.Parse("s.yaml", []byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
	if _, err := piispec.Load("/nonexistent/spec.yaml"); err == nil || !strings.Contains(err.Error(), "cannot read spec /nonexistent/spec.yaml") {
		t.Errorf("missing file: %v", err)
	}
}
