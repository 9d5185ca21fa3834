package pii_test

import (
	"strings"
	"testing"

	"github.com/livemigrate/livemigrate/pii"
)

// TestAudit: columns that look personal are found by name, comment, source
// name or values; decided ones carry their policy; undecided ones block with
// one line naming them.
func TestAudit(t *testing.T) {
	cfg := &pii.Config{Tables: map[string]map[string]pii.Column{
		"Customers": {"Phone": {Policy: pii.PolicyEncrypt}, "nick": {Policy: pii.PolicyNone, Reason: "public handle"}},
	}}
	tables := []pii.AuditTable{{Name: "customers", Source: "customers", Columns: []pii.AuditColumn{
		{Name: "id", DataType: "bigint", Samples: []string{"1", "2"}},
		{Name: "email", DataType: "varchar"},
		{Name: "phone", DataType: "varchar"},
		{Name: "nick", DataType: "varchar", Comment: "personal data"},
		{Name: "contact", Source: "e_mail", DataType: "varchar"},
		{Name: "pw", DataType: "char", Samples: []string{"$2y$10$abcdefghijklmnopqrstuuDHBkNCsHRa.jVNvZc2aDGSPA9wBx3Ci"}},
		{Name: "total", DataType: "decimal", Comment: "order total"},
	}}}
	fs := pii.Audit(cfg, tables)
	got := map[string]pii.Finding{}
	for _, f := range fs {
		got[f.Column] = f
	}
	if len(fs) != 5 {
		t.Fatalf("findings: %+v", fs)
	}
	for col, want := range map[string]struct {
		det    string
		policy pii.Policy
	}{
		"email": {"email", ""}, "phone": {"phone", pii.PolicyEncrypt}, "nick": {"personal", pii.PolicyNone},
		"contact": {"email", ""}, "pw": {"password-hash", ""},
	} {
		f := got[col]
		if f.Detector != want.det || f.Policy != want.policy {
			t.Errorf("%s: %+v, want %s/%q", col, f, want.det, want.policy)
		}
	}
	if !strings.Contains(got["contact"].Why, `column name "e_mail"`) || got["contact"].SourceColumn != "e_mail" {
		t.Errorf("a renamed column is found by its MySQL name: %+v", got["contact"])
	}
	err := pii.UndecidedError(fs)
	if err == nil {
		t.Fatal("undecided columns must block")
	}
	msg := err.Error()
	for _, want := range []string{"3 columns look personal or secret and have no PII policy: customers.contact (email), customers.email (email), customers.pw (password-hash);", "pii.tables.TABLE.COLUMN"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "$2y$") {
		t.Fatal("error quotes a value")
	}
	if pii.UndecidedError(pii.Audit(cfg, tables[:0])) != nil {
		t.Fatal("nothing found, nothing blocks")
	}
	var pe *pii.Error
	if !asError(err, &pe) {
		t.Fatal("UndecidedError must be a *pii.Error (exit 2)")
	}
}
