package detect_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/pii/detect"
)

func detectors(hs []detect.Hit) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Detector)
	}
	return out
}

// TestName: names that say what the column holds, on a type that can hold
// it; and names that only look similar.
func TestName(t *testing.T) {
	for _, c := range []struct {
		name, typ string
		want      []string
	}{
		{"email", "varchar", []string{detect.Email}},
		{"customerEmail", "varchar", []string{detect.Email}},
		{"staff_e_mail", "varchar", []string{detect.Email}},
		{"EmailAddress", "varchar", []string{detect.Email}},
		{"mail", "text", []string{detect.Email}},
		{"phone", "varchar", []string{detect.Phone}},
		{"mobile_number", "varchar", []string{detect.Phone}},
		{"PhoneNumber", "bigint", []string{detect.Phone}},
		{"fax", "varchar", []string{detect.Phone}},
		{"ssn", "char", []string{detect.SSN}},
		{"national_id", "varchar", []string{detect.SSN}},
		{"passport_no", "varchar", []string{detect.SSN}},
		{"iban", "varchar", []string{detect.IBAN}},
		{"bank_account", "varchar", []string{detect.IBAN}},
		{"credit_card_number", "varchar", []string{detect.Card}},
		{"cc_number", "bigint", []string{detect.Card}},
		{"cvv", "char", []string{detect.Card}},
		{"last_ip", "varchar", []string{detect.IP}},
		{"ip_address", "varbinary", []string{detect.IP}},
		{"remote_addr", "varchar", []string{detect.IP}},
		{"date_of_birth", "date", []string{detect.DOB}},
		{"dob", "date", []string{detect.DOB}},
		{"birthdate", "datetime", []string{detect.DOB}},
		{"birth_year", "year", []string{detect.DOB}},
		{"password", "varchar", []string{detect.Secret}},
		{"password_hash", "char", []string{detect.Secret}},
		{"hashed_password", "varbinary", []string{detect.Secret}},
		{"api_key", "varchar", []string{detect.Secret}},
		{"remember_token", "varchar", []string{detect.Secret}},
		{"salt", "binary", []string{detect.Secret}},
		{"first_name", "varchar", []string{detect.PersonName}},
		{"lastName", "varchar", []string{detect.PersonName}},
		{"surname", "varchar", []string{detect.PersonName}},
		{"street", "varchar", []string{detect.Address}},
		{"postal_code", "varchar", []string{detect.Address}},
		{"billing_address", "text", []string{detect.Address}},
		{"zip", "char", []string{detect.Address}},
		// Negatives: a property of the data, a reference, a type that cannot
		// hold it, or a similar word.
		{"email_verified", "tinyint", nil},
		{"email_verified_at", "datetime", nil},
		{"email_count", "int", nil},
		{"phone_id", "int", nil},
		{"customer_email_id", "bigint", nil},
		{"password_changed_at", "datetime", nil},
		{"password_reset_required", "tinyint", nil},
		{"token_count", "int", nil},
		{"tokens_used", "int", nil},
		{"mac_address", "varchar", nil},
		{"server_address", "varchar", nil},
		{"name", "varchar", nil},
		{"product_name", "varchar", nil},
		{"description", "text", nil},
		{"shipped_at", "datetime", nil},
		{"created_at", "timestamp", nil},
		{"id", "bigint", nil},
		{"tip", "decimal", nil},
		{"pinned", "tinyint", nil},
		{"recipient", "varchar", nil},
		{"telemetry", "json", nil},
		{"cell_count", "int", nil},
		{"zipped", "tinyint", nil},
		{"stripe_ip_whitelist_enabled", "tinyint", nil},
	} {
		if got := detectors(detect.Name(c.name, c.typ)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Name(%q, %s) = %v, want %v", c.name, c.typ, got, c.want)
		}
	}
}

// TestComment: comments that name the kind of data, and negations.
func TestComment(t *testing.T) {
	for _, c := range []struct {
		comment string
		want    []string
	}{
		{"customer e-mail", []string{detect.Email}},
		{"Contact EMAIL of the buyer", []string{detect.Email}},
		{"bcrypt hash of the user's password", []string{detect.Secret}},
		{"Date of birth (GDPR)", []string{detect.DOB, detect.Personal}},
		{"PII: national insurance number", []string{detect.Personal}},
		{"social security number", []string{detect.SSN}},
		{"IBAN for payouts", []string{detect.IBAN}},
		{"client IP address", []string{detect.IP}},
		{"shipping address line 1", []string{detect.Address}},
		{"sensitive", []string{detect.Personal}},
		{"", nil},
		{"not PII", nil},
		{"non-sensitive display value", nil},
		{"order total in cents", nil},
		{"mailing list opt-in flag", nil},
		{"number of pins", nil},
	} {
		if got := detectors(detect.Comment(c.comment)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Comment(%q) = %v, want %v", c.comment, got, c.want)
		}
	}
}

// TestValueValidators: each validator on values it must accept and values
// that look alike but must be refused.
func TestValueValidators(t *testing.T) {
	for _, c := range []struct {
		det  string
		typ  string
		yes  []string
		no   []string
		name string
	}{
		{detect.Email, "varchar",
			[]string{"alice@example.com", "a.b+tag@sub.example.co.uk", "O'Brien@example.ie", "x@y.io"},
			[]string{"alice@localhost", "@example.com", "alice@", "alice example.com", "a@b", "user@@example.com", "foo@bar.123"}, "contact"},
		{detect.Card, "varchar",
			[]string{"4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "6011111111111117", "2223003122003222"},
			[]string{"4111111111111112", "1234567812345670", "411111111111", "79927398713", "4111-1111-1111-111a", "00000000000000000"}, "ref"},
		{detect.Card, "bigint", []string{"4012888888881881"}, []string{"4012888888881882", "123456789"}, "ref"},
		{detect.SSN, "char",
			[]string{"123-45-6789", "078-05-1120"},
			[]string{"000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000", "123456789", "12-345-6789"}, "ref"},
		{detect.IBAN, "varchar",
			[]string{"DE89370400440532013000", "GB82 WEST 1234 5698 7654 32", "FR1420041010050500013M02606", "NL91ABNA0417164300"},
			[]string{"DE89370400440532013001", "GB82WEST123456987654", "XX00", "AB12CDEF34567890123", "de89370400440532013000x"}, "ref"},
		{detect.IP, "varchar",
			[]string{"192.168.1.10", "10.0.0.1", "2001:db8::1", "::1", "fe80::1ff:fe23:4567:890a"},
			[]string{"256.1.1.1", "1.2.3", "192.168.1.10/24", "localhost", "1.2.3.4.5"}, "ref"},
		{detect.Phone, "varchar",
			[]string{"+44 20 7946 0958", "+4915112345678", "(555) 123-4567", "555-123-4567", "030 1234567", "07700 900123", "07700900123", "+1.555.123.4567"},
			[]string{"2024-01-15", "15.01.2024", "12345-6789", "192.168.100.200", "123-45-6789", "3.14159", "1234567", "42", "12:30:00", "v1.2.3", "5551234567"}, "ref"},
		{detect.PasswordHash, "varchar",
			[]string{"$2y$10$abcdefghijklmnopqrstuuDHBkNCsHRa.jVNvZc2aDGSPA9wBx3Ci", "$2b$12$KbQi7V1l0HjGkZ0yQv8YQe7e9z4fZt1rXkqJQm0a5bU2b6y8ZtP9C",
				"$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", "pbkdf2_sha256$260000$salt$hash=",
				"$6$rounds=5000$saltsalt$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ./abcdefghij",
				"5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", "5e884898da28047151d0e56f8dc2914ab9ea2f7aee8ba4a6b28c6f6c2b1ff0a7"},
			[]string{"$2y$10$short", "hello", "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd", "5d41402abc4b2a76b9719d911017c592", "$argon2id$"}, "pw"},
		{detect.Secret, "text",
			[]string{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk", "-----BEGIN RSA PRIVATE KEY-----\nMIIE...", "AKIAIOSFODNN7EXAMPLE", "sk_live_0123456789abcdefABCD"},
			[]string{"eyJhbGciOi", "-----BEGIN PUBLIC KEY-----", "AKIA123", "sk_demo_123"}, "blob"},
	} {
		for _, v := range c.yes {
			if got := detectors(detect.Values(c.name, c.typ, []string{v})); !containsStr(got, c.det) {
				t.Errorf("%s must accept %q (%s): got %v", c.det, v, c.typ, got)
			}
		}
		for _, v := range c.no {
			if got := detectors(detect.Values(c.name, c.typ, []string{v})); containsStr(got, c.det) {
				t.Errorf("%s must refuse %q (%s): got %v", c.det, v, c.typ, got)
			}
		}
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestValuesThreshold: a detector needs half the samples; e-mails inside
// free text need two and one in twenty; hex digests under a checksum name
// are content hashes; reasons never quote a value.
func TestValuesThreshold(t *testing.T) {
	mixed := []string{"alice@example.com", "bob@example.com", "n/a", "", "  ", "carol@example.com", "unknown"}
	hs := detect.Values("contact", "varchar", mixed)
	if len(hs) == 0 || hs[0].Detector != detect.Email || hs[0].Why != "3 of 5 sampled values are e-mail addresses" {
		t.Fatalf("majority of e-mails: %+v", hs)
	}
	minority := []string{"alice@example.com", "x", "y", "z"}
	if hs := detect.Values("contact", "varchar", minority); len(hs) != 0 {
		t.Fatalf("1 in 4 must not fire as whole values, and 1 is too few inside text: %+v", hs)
	}
	var notes []string
	for i := 0; i < 40; i++ {
		notes = append(notes, fmt.Sprintf("order %d shipped", i))
	}
	notes[3], notes[17] = "please mail the invoice to dave@example.org, thanks", "ask eve@example.net"
	if got := detectors(detect.Values("notes", "text", notes)); !reflect.DeepEqual(got, []string{detect.Email}) {
		t.Fatalf("e-mails inside free text: %v", got)
	}
	ids := []string{}
	for i := 0; i < 100; i++ {
		ids = append(ids, fmt.Sprintf("%016d", 4000000000000000+i*7919))
	}
	if got := detectors(detect.Values("external_id", "bigint", ids)); len(got) != 0 {
		t.Fatalf("16-digit ids (~1 in 10 pass Luhn) must not look like cards: %v", got)
	}
	sha := []string{"5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", "7c4a8d09ca3762af61e59520943dc26494f8941b"}
	if got := detectors(detect.Values("commit_sha", "char", sha)); len(got) != 0 {
		t.Fatalf("git commit hashes: %v", got)
	}
	if got := detectors(detect.Values("hash", "char", sha)); !reflect.DeepEqual(got, []string{detect.PasswordHash}) {
		t.Fatalf("SHA-1 hex under a neutral name: %v", got)
	}
	for _, h := range detect.Column(detect.Input{Name: "email", DataType: "varchar", Comment: "customer e-mail", Samples: mixed}) {
		for _, v := range mixed {
			if strings.TrimSpace(v) != "" && strings.Contains(h.Why, v) {
				t.Fatalf("reason quotes a value: %q", h.Why)
			}
		}
	}
	if got := detectors(detect.Values("x", "varchar", nil)); got != nil {
		t.Fatalf("no samples: %v", got)
	}
	if got := detectors(detect.Values("x", "date", []string{"1990-01-01"})); got != nil {
		t.Fatalf("dates are not sampled for values: %v", got)
	}
}

func TestLuhnAndIBAN(t *testing.T) {
	for s, want := range map[string]bool{"79927398713": true, "79927398710": false, "0": true, "": false, "12a": false} {
		if detect.Luhn(s) != want {
			t.Errorf("Luhn(%q) != %v", s, want)
		}
	}
	if !detect.IBANValid("gb82 west 1234 5698 7654 32") || detect.IBANValid("GB82WEST12345698765433") {
		t.Error("IBANValid")
	}
}

// TestSample reads samples from the real MariaDB with the one sampling
// query: NULLs and empty strings dropped, long values cut, odd names quoted.
func TestSample(t *testing.T) {
	e := testenv.New(t)
	e.Exec(t, "CREATE TABLE `we``ird` (id BIGINT PRIMARY KEY, `e mail` VARCHAR(100), body LONGTEXT, n BIGINT)",
		"INSERT INTO `we``ird` VALUES (1, 'a@example.com', REPEAT('x', 5000), 4111111111111111), (2, NULL, '', NULL), (3, 'b@example.com', 'short', 7)")
	got, err := detect.Sample(testenv.Context(t), e.MySQL, "we`ird", []string{"e mail", "body", "n"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got["e mail"], []string{"a@example.com"}) || len(got["body"]) != 1 || len(got["body"][0]) != detect.SamplePrefix ||
		!reflect.DeepEqual(got["n"], []string{"4111111111111111"}) {
		t.Fatalf("sample (2 rows): %q", got)
	}
	if !detect.Sampled("varchar") || !detect.Sampled("bigint") || detect.Sampled("date") || detect.Sampled("int") {
		t.Fatal("Sampled")
	}
}
