package pii_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/livemigrate/livemigrate/pii"
)

// Test fixtures: a table "people" (id, email, phone, note, token, nick) and
// a table "orders" whose key is a deterministic e-mail.
var people = pii.Table{Name: "people", Columns: []string{"id", "email", "phone", "note", "token", "nick"}, Key: []int{0}}
var orders = pii.Table{Name: "Orders", Columns: []string{"email", "seq", "secret"}, Key: []int{0, 1}}

func peoplePolicies() map[string]map[string]pii.Column {
	fixed := "[redacted]"
	return map[string]map[string]pii.Column{
		"people": {
			"email": {Policy: pii.PolicyDeterministic},
			"phone": {Policy: pii.PolicyEncrypt},
			"note":  {Policy: pii.PolicyRedact, Value: &fixed},
			"token": {Policy: pii.PolicyHash},
			"nick":  {Policy: pii.PolicyNone, Reason: "public display name"},
		},
		"orders": {
			"email":  {Policy: pii.PolicyDeterministic},
			"secret": {Policy: pii.PolicyEncrypt},
		},
	}
}

// cleartextKeyset creates a development keyset file.
func cleartextKeyset(t testing.TB) pii.Keyset {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dev-keyset.json")
	if _, err := pii.CreateKeyset(context.Background(), path, "", true); err != nil {
		t.Fatal(err)
	}
	return pii.Keyset{InsecureCleartextFile: path}
}

// wrappedKeyset creates a keyset file wrapped by a fresh fake KMS key.
func wrappedKeyset(t testing.TB) pii.Keyset {
	t.Helper()
	uri, err := fakekms.NewKeyURI()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keyset.json")
	if _, err := pii.CreateKeyset(context.Background(), path, uri, false); err != nil {
		t.Fatal(err)
	}
	return pii.Keyset{File: path, KMSKeyURI: uri}
}

func newProtector(t testing.TB, ks pii.Keyset, opts ...pii.Option) *pii.Protector {
	t.Helper()
	p, err := pii.New(context.Background(), pii.Config{Keyset: ks, Tables: peoplePolicies()}, []pii.Table{people, orders}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// everyValue is one value of each Go type the converter produces, with
// edge cases.
func everyValue() []any {
	r, _ := new(big.Rat).SetString("-12345678901234567890.123456789")
	return []any{
		int64(0), int64(math.MinInt64), int64(math.MaxInt64), true, false,
		float32(-0.0), float32(math.Inf(1)), float32(3.25), math.NaN(), math.Copysign(0, -1), 1e308,
		"", "alice@example.com", "Zoë 李 🚀", "a\x00b",
		[]byte{}, []byte{0, 1, 2, 255},
		r, new(big.Rat),
		civil.Date{Year: 1, Month: 1, Day: 1}, civil.Date{Year: 9999, Month: 12, Day: 31},
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		[]string{}, []string{"", "a", "Zoë"},
		spanner.NullJSON{Value: json.RawMessage(`{"a":[1,2,{"b":null}]}`), Valid: true},
		uint64(math.MaxUint64),
	}
}

// same compares an original value with its decrypted form exactly.
func same(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case float32:
		y, ok := b.(float32)
		return ok && math.Float32bits(x) == math.Float32bits(y)
	case *big.Rat:
		y, ok := b.(*big.Rat)
		return ok && x.Cmp(y) == 0
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y) && y.Location() == time.UTC
	case spanner.NullJSON:
		y, ok := b.(spanner.NullJSON)
		return ok && y.Valid && bytes.Equal(x.Value.(json.RawMessage), y.Value.(json.RawMessage))
	}
	return reflect.DeepEqual(a, b)
}

// TestRoundTripEveryType: encrypt and deterministic give back every value
// type exactly, NULL stays NULL.
func TestRoundTripEveryType(t *testing.T) {
	p := newProtector(t, cleartextKeyset(t))
	for _, v := range append(everyValue(), nil) {
		row := []any{int64(7), v, v, v, v, "nick"}
		if err := p.Protect("people", row); err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if v == nil {
			if row[1] != nil || row[2] != nil {
				t.Fatalf("NULL must stay NULL: %v", row)
			}
			continue
		}
		for _, i := range []int{1, 2} {
			ct, ok := row[i].([]byte)
			if !ok || len(ct) < 5+16 {
				t.Fatalf("%T: cell %d not a ciphertext: %T", v, i, row[i])
			}
		}
		if err := p.Reveal("people", row); err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if !same(v, row[1]) || !same(v, row[2]) {
			t.Fatalf("%T %v: revealed %#v / %#v", v, v, row[1], row[2])
		}
		if row[0] != int64(7) || row[5] != "nick" || (row[3] != "[redacted]" && v != nil) || len(row[4].([]byte)) != 32 {
			t.Fatalf("unprotected cells changed: %v", row)
		}
	}
}

// TestEncryptBoundToCell: an encrypt ciphertext moved to another row,
// column or table does not decrypt; in place it does.
func TestEncryptBoundToCell(t *testing.T) {
	p := newProtector(t, cleartextKeyset(t))
	row := func(id int64) []any { return []any{id, "a@x.io", "+44 20 7946 0958", nil, nil, nil} }
	r1, r2 := row(1), row(2)
	for _, r := range [][]any{r1, r2} {
		if err := p.Protect("people", r); err != nil {
			t.Fatal(err)
		}
	}
	ok := append([]any{}, r1...)
	if err := p.Reveal("people", ok); err != nil || ok[2] != "+44 20 7946 0958" {
		t.Fatalf("in place: %v %v", ok[2], err)
	}
	moved := append([]any{}, r2...)
	moved[2] = r1[2] // row 1's phone into row 2
	if err := p.Reveal("people", moved); err == nil || !strings.Contains(err.Error(), "people.phone: cannot decrypt") {
		t.Fatalf("ciphertext moved to another row decrypted: %v", err)
	}
	// Into another table whose encrypt column has the same key values.
	o := []any{"a@x.io", int64(1), "s3cret"}
	if err := p.Protect("Orders", o); err != nil {
		t.Fatal(err)
	}
	o2 := append([]any{}, o...)
	o2[2] = r1[2]
	if err := p.Reveal("orders", o2); err == nil {
		t.Fatal("ciphertext moved to another table decrypted")
	}
	// Into another column of the same table: a second encrypt column.
	cfg := pii.Config{Keyset: cleartextKeyset(t), Tables: map[string]map[string]pii.Column{"t": {"a": {Policy: pii.PolicyEncrypt}, "b": {Policy: pii.PolicyEncrypt}}}}
	tp, err := pii.New(context.Background(), cfg, []pii.Table{{Name: "t", Columns: []string{"id", "a", "b"}, Key: []int{0}}})
	if err != nil {
		t.Fatal(err)
	}
	r := []any{int64(1), "x", "y"}
	if err := tp.Protect("t", r); err != nil {
		t.Fatal(err)
	}
	r[1], r[2] = r[2], r[1]
	if err := tp.Reveal("t", r); err == nil {
		t.Fatal("ciphertext moved to another column decrypted")
	}
}

// TestDeterministicAcrossInstances: two Protectors on one keyset give equal
// ciphertexts for equal values; domains separate columns unless shared.
func TestDeterministicAcrossInstances(t *testing.T) {
	ks := wrappedKeyset(t)
	a, b := newProtector(t, ks), newProtector(t, ks)
	ra := []any{int64(1), "bob@example.com", nil, nil, nil, nil}
	rb := []any{int64(2), "bob@example.com", nil, nil, nil, nil}
	if err := a.Protect("people", ra); err != nil {
		t.Fatal(err)
	}
	if err := b.Protect("people", rb); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ra[1].([]byte), rb[1].([]byte)) {
		t.Fatal("deterministic ciphertexts differ across instances")
	}
	// orders.email has its own domain by default...
	o := []any{"bob@example.com", int64(1), nil}
	if err := a.Protect("orders", o); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(o[0].([]byte), ra[1].([]byte)) {
		t.Fatal("two columns without a shared domain gave equal ciphertexts")
	}
	// ...and equal ones with a shared domain.
	pol := peoplePolicies()
	pol["people"]["email"] = pii.Column{Policy: pii.PolicyDeterministic, Domain: "email"}
	pol["orders"]["email"] = pii.Column{Policy: pii.PolicyDeterministic, Domain: "email"}
	c, err := pii.New(context.Background(), pii.Config{Keyset: ks, Tables: pol}, []pii.Table{people, orders})
	if err != nil {
		t.Fatal(err)
	}
	r := []any{int64(1), "bob@example.com", nil, nil, nil, nil}
	o = []any{"bob@example.com", int64(1), nil}
	if err := c.Protect("people", r); err != nil {
		t.Fatal(err)
	}
	if err := c.Protect("orders", o); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(o[0].([]byte), r[1].([]byte)) {
		t.Fatal("a shared domain must give equal ciphertexts (joins)")
	}
}

// TestLivePathTypesNormalised: the application's spellings of a value (int,
// *string, spanner.NullString) protect like the converter's.
func TestLivePathTypesNormalised(t *testing.T) {
	p := newProtector(t, cleartextKeyset(t))
	s := "eve@example.com"
	backfill := []any{int64(9), s, "1", nil, "t", "n"}
	live := []any{9, &s, spanner.NullString{StringVal: "1", Valid: true}, spanner.NullString{}, spanner.NullString{StringVal: "t", Valid: true}, "n"}
	for _, r := range [][]any{backfill, live} {
		if err := p.Protect("people", r); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(backfill[1].([]byte), live[1].([]byte)) || !bytes.Equal(backfill[4].([]byte), live[4].([]byte)) {
		t.Fatal("deterministic/hash outputs differ between the backfill's and the application's value types")
	}
	// The AEAD cell of the live row decrypts with the backfill row's key.
	live[0] = int64(9)
	if err := p.Reveal("people", live); err != nil || live[2] != "1" {
		t.Fatalf("live AEAD cell: %v %v", live[2], err)
	}
}

// TestRotation: values written before `rotate` decrypt after it; new ones
// carry the new primary key id (Tink's 5-byte prefix).
func TestRotation(t *testing.T) {
	ctx := context.Background()
	ks := wrappedKeyset(t)
	before := newProtector(t, ks)
	old := []any{int64(1), "old@example.com", "+1 555 0100", nil, "x", nil}
	if err := before.Protect("people", old); err != nil {
		t.Fatal(err)
	}
	k0, err := pii.LoadKeys(ctx, ks)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pii.RotateKeyset(ctx, ks, pii.Purposes)
	if err != nil {
		t.Fatal(err)
	}
	k1, err := pii.LoadKeys(ctx, ks)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1.Describe()) != 2*len(k0.Describe()) {
		t.Fatalf("rotate must keep old keys: %d keys before, %d after", len(k0.Describe()), len(k1.Describe()))
	}
	for _, ki := range k1.Describe() {
		if ki.Primary != (ki.KeyID == ids[ki.Keyset]) || ki.Status != "ENABLED" {
			t.Fatalf("after rotate: %+v (new ids %v)", ki, ids)
		}
	}
	after := newProtector(t, ks)
	rev := append([]any{}, old...)
	if err := after.Reveal("people", rev); err != nil || rev[1] != "old@example.com" || rev[2] != "+1 555 0100" {
		t.Fatalf("old values after rotation: %v %v", rev, err)
	}
	fresh := []any{int64(2), "new@example.com", "+1 555 0101", nil, "x", nil}
	if err := after.Protect("people", fresh); err != nil {
		t.Fatal(err)
	}
	prefixID := func(ct any) uint32 { return binary.BigEndian.Uint32(ct.([]byte)[1:5]) }
	if prefixID(fresh[1]) != ids[pii.PurposeDeterministic] || prefixID(fresh[2]) != ids[pii.PurposeEncrypt] {
		t.Fatalf("new values not under the new primary keys: %d %d, want %v", prefixID(fresh[1]), prefixID(fresh[2]), ids)
	}
	if prefixID(old[1]) == ids[pii.PurposeDeterministic] || prefixID(old[2]) == ids[pii.PurposeEncrypt] {
		t.Fatal("old values claim the new key id")
	}
	if bytes.Equal(old[4].([]byte), fresh[4].([]byte)) {
		t.Fatal("a rotated hash key must give new tokens (documented)")
	}
}

// TestHash: 32 bytes, stable across instances, keyed, typed.
func TestHash(t *testing.T) {
	ks := cleartextKeyset(t)
	a, b, other := newProtector(t, ks), newProtector(t, ks), newProtector(t, cleartextKeyset(t))
	h := func(p *pii.Protector, v any) []byte {
		r := []any{int64(1), nil, nil, nil, v, nil}
		if err := p.Protect("people", r); err != nil {
			t.Fatal(err)
		}
		return r[4].([]byte)
	}
	x := h(a, "s3cr3t")
	if len(x) != 32 || !bytes.Equal(x, h(b, "s3cr3t")) {
		t.Fatalf("hash not stable or not 32 bytes: %x", x)
	}
	if bytes.Equal(x, h(other, "s3cr3t")) {
		t.Fatal("hash is not keyed: another keyset gives the same token")
	}
	if bytes.Equal(h(a, int64(5)), h(a, "5")) {
		t.Fatal("int64 5 and string \"5\" must hash apart")
	}
	if bytes.Contains(x, []byte("s3cr3t")) {
		t.Fatal("plaintext in hash")
	}
}

// TestRedact: NULL by default, the fixed value when set, NULL stays NULL.
func TestRedact(t *testing.T) {
	ks := cleartextKeyset(t)
	p := newProtector(t, ks)
	r := []any{int64(1), nil, nil, "call me at 555", nil, nil}
	if err := p.Protect("people", r); err != nil || r[3] != "[redacted]" {
		t.Fatalf("redact with value: %v %v", r[3], err)
	}
	r = []any{int64(1), nil, nil, nil, nil, nil}
	if err := p.Protect("people", r); err != nil || r[3] != nil {
		t.Fatalf("NULL must stay NULL: %v %v", r[3], err)
	}
	q, err := pii.New(context.Background(), pii.Config{Tables: map[string]map[string]pii.Column{"people": {"note": {Policy: pii.PolicyRedact}}}}, []pii.Table{people})
	if err != nil {
		t.Fatal(err)
	}
	r = []any{int64(1), "e", "p", []byte("secret note"), "t", "n"}
	if err := q.Protect("people", r); err != nil || r[3] != nil || r[1] != "e" {
		t.Fatalf("redact to NULL (no keyset needed): %v %v", r, err)
	}
}

// TestValidate: one-line messages naming the key and the fix.
func TestValidate(t *testing.T) {
	v := "x"
	ks := pii.Keyset{File: "k.json", KMSKeyURI: "gcp-kms://projects/p/locations/global/keyRings/r/cryptoKeys/k"}
	col := func(c pii.Column) map[string]map[string]pii.Column {
		return map[string]map[string]pii.Column{"t": {"c": c}}
	}
	for _, c := range []struct {
		cfg  pii.Config
		want string // "" = valid
	}{
		{pii.Config{Keyset: ks, Tables: col(pii.Column{Policy: pii.PolicyEncrypt})}, ""},
		{pii.Config{Tables: col(pii.Column{Policy: pii.PolicyNone, Reason: "public"})}, ""},
		{pii.Config{Tables: col(pii.Column{Policy: pii.PolicyRedact, Value: &v})}, ""},
		{pii.Config{Tables: col(pii.Column{Policy: pii.PolicyNone})}, "pii.tables.t.c: policy none needs a reason"},
		{pii.Config{Tables: col(pii.Column{Policy: "encrpyt"})}, `pii.tables.t.c: unknown policy "encrpyt"; use one of encrypt, deterministic, hash, redact, none`},
		{pii.Config{Tables: col(pii.Column{})}, "pii.tables.t.c: policy is required"},
		{pii.Config{Tables: col(pii.Column{Policy: pii.PolicyEncrypt})}, "pii.keyset is required for encrypt, deterministic and hash"},
		{pii.Config{Keyset: ks, Tables: col(pii.Column{Policy: pii.PolicyEncrypt, Domain: "d"})}, "pii.tables.t.c: domain applies to deterministic and hash only"},
		{pii.Config{Tables: col(pii.Column{Policy: pii.PolicyNone, Reason: "r", Value: &v})}, "pii.tables.t.c: value applies to redact only"},
		{pii.Config{Keyset: pii.Keyset{File: "k.json"}}, "pii.keyset.kms_key_uri is required with file"},
		{pii.Config{Keyset: pii.Keyset{KMSKeyURI: ks.KMSKeyURI}}, "pii.keyset.file is required with kms_key_uri"},
		{pii.Config{Keyset: pii.Keyset{File: "k", KMSKeyURI: "aws-kms://arn:aws:kms:x"}}, "pii.keyset.kms_key_uri aws-kms://…: unsupported KMS"},
		{pii.Config{Keyset: pii.Keyset{File: "k", KMSKeyURI: "gcp-kms://projects/p/keyRings/r"}}, "must look like gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K"},
		{pii.Config{Keyset: pii.Keyset{File: "k", KMSKeyURI: ks.KMSKeyURI, InsecureCleartextFile: "d"}}, "not both"},
		{pii.Config{Tables: map[string]map[string]pii.Column{"t": {"c": {Policy: pii.PolicyRedact}, "C": {Policy: pii.PolicyRedact}}}}, `lists "C" and "c", the same Spanner column`},
	} {
		err := c.cfg.Validate()
		if c.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.cfg, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: got %v, want %q", c.cfg, err, c.want)
		}
	}
}

// TestNewRejectsBadColumns: policies must name existing columns, and a key
// column cannot be encrypt or redact.
func TestNewRejectsBadColumns(t *testing.T) {
	ks := cleartextKeyset(t)
	for _, c := range []struct {
		cols map[string]pii.Column
		want string
	}{
		{map[string]pii.Column{"emial": {Policy: pii.PolicyDeterministic}}, `pii.tables.people.emial: table people has no column "emial"`},
		{map[string]pii.Column{"id": {Policy: pii.PolicyEncrypt}}, "pii.tables.people.id: encrypt cannot protect a key column"},
		{map[string]pii.Column{"id": {Policy: pii.PolicyRedact}}, "pii.tables.people.id: redact cannot protect a key column"},
	} {
		_, err := pii.New(context.Background(), pii.Config{Keyset: ks, Tables: map[string]map[string]pii.Column{"people": c.cols}}, []pii.Table{people})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.cols, err, c.want)
		}
	}
}

// TestFailClosed: every way the keyset cannot be loaded is an error from
// New, before any row, with no key material in its text.
func TestFailClosed(t *testing.T) {
	ctx := context.Background()
	good := wrappedKeyset(t)
	otherURI, _ := fakekms.NewKeyURI()
	dev := cleartextKeyset(t)
	devBytes, _ := os.ReadFile(dev.InsecureCleartextFile)
	garbage := filepath.Join(t.TempDir(), "garbage.json")
	os.WriteFile(garbage, []byte(`{"format":"livemigrate-keyset-v1","kek":{"encryptedKeyset":"AAAA"}}`), 0o600)
	tampered := filepath.Join(t.TempDir(), "tampered.json")
	data, _ := os.ReadFile(good.File)
	var f map[string]json.RawMessage
	json.Unmarshal(data, &f)
	f["encrypt"], f["deterministic"] = f["deterministic"], f["encrypt"] // swap slots
	data, _ = json.Marshal(f)
	os.WriteFile(tampered, data, 0o600)
	kmsDown := pii.WithKMS(func(context.Context, string) (tink.AEADWithContext, error) {
		return nil, errUnavailable
	})
	cases := []struct {
		name string
		ks   pii.Keyset
		opts []pii.Option
		want string
	}{
		{"missing file", pii.Keyset{File: "/nonexistent/k.json", KMSKeyURI: good.KMSKeyURI}, nil, "cannot read keyset file /nonexistent/k.json"},
		{"not a keyset", pii.Keyset{File: "/etc/hostname", KMSKeyURI: good.KMSKeyURI}, nil, "is not a livemigrate keyset file"},
		{"wrong KMS key", pii.Keyset{File: good.File, KMSKeyURI: otherURI}, nil, "cannot unwrap keyset"},
		{"KMS unreachable", good, []pii.Option{kmsDown}, "cannot reach KMS key fake-kms://…: KMS unavailable"},
		{"corrupt kek", pii.Keyset{File: garbage, KMSKeyURI: good.KMSKeyURI}, nil, "cannot unwrap keyset"},
		{"slots swapped", pii.Keyset{File: tampered, KMSKeyURI: good.KMSKeyURI}, nil, "the encrypt keyset cannot be read"},
		{"cleartext named as wrapped", pii.Keyset{File: dev.InsecureCleartextFile, KMSKeyURI: good.KMSKeyURI}, nil, "is an INSECURE cleartext keyset"},
		{"wrapped named as cleartext", pii.Keyset{InsecureCleartextFile: good.File}, nil, "is a KMS-wrapped keyset"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := pii.New(ctx, pii.Config{Keyset: c.ks, Tables: peoplePolicies()}, []pii.Table{people, orders}, c.opts...)
			if err == nil || p != nil {
				t.Fatalf("New succeeded: %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Fatalf("got %q, want %q", msg, c.want)
			}
			var pe *pii.Error
			if !asError(err, &pe) {
				t.Fatalf("not a *pii.Error (exit 2): %T", err)
			}
			for _, secret := range append(keyMaterial(devBytes), strings.TrimPrefix(good.KMSKeyURI, "fake-kms://")[:20], strings.TrimPrefix(otherURI, "fake-kms://")[:20]) {
				if strings.Contains(msg, secret) {
					t.Fatalf("error holds key material: %q", msg)
				}
			}
		})
	}
}

var errUnavailable = &pii.Error{Msg: "KMS unavailable"}

func asError(err error, pe **pii.Error) bool {
	e, ok := err.(*pii.Error)
	*pe = e
	return ok
}

// keyMaterial extracts the "value" fields (base64 key material) of a
// cleartext keyset file.
func keyMaterial(file []byte) []string {
	var out []string
	for _, part := range strings.Split(string(file), `"value": "`)[1:] {
		out = append(out, part[:16])
	}
	return out
}

// countingKMS wraps the fake KMS and counts its calls.
type countingKMS struct {
	tink.AEADWithContext
	n *atomic.Int64
}

func (c countingKMS) DecryptWithContext(ctx context.Context, ct, ad []byte) ([]byte, error) {
	c.n.Add(1)
	return c.AEADWithContext.DecryptWithContext(ctx, ct, ad)
}

func (c countingKMS) EncryptWithContext(ctx context.Context, pt, ad []byte) ([]byte, error) {
	c.n.Add(1)
	return c.AEADWithContext.EncryptWithContext(ctx, pt, ad)
}

// TestOneKMSCall: New reads the wrapped keyset with exactly one KMS call,
// and protecting rows makes none.
func TestOneKMSCall(t *testing.T) {
	ks := wrappedKeyset(t)
	var n atomic.Int64
	opt := pii.WithKMS(func(_ context.Context, uri string) (tink.AEADWithContext, error) {
		a, err := fakekms.NewAEADWithContext(uri)
		return countingKMS{a, &n}, err
	})
	p := newProtector(t, ks, opt)
	if n.Load() != 1 {
		t.Fatalf("New made %d KMS calls, want 1", n.Load())
	}
	for i := 0; i < 1000; i++ {
		if err := p.Protect("people", []any{int64(i), "a@b.co", "1", "n", "t", "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("protecting rows made KMS calls: %d", n.Load())
	}
}

// TestProtectKey: ProtectKey stores a key exactly as Protect stores the
// row's key cells, and RevealKey reverses it.
func TestProtectKey(t *testing.T) {
	p := newProtector(t, cleartextKeyset(t))
	row := []any{"k@example.com", int64(3), "s"}
	if err := p.Protect("Orders", row); err != nil {
		t.Fatal(err)
	}
	key := []any{"k@example.com", int64(3)}
	if err := p.ProtectKey("orders", key); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key[0].([]byte), row[0].([]byte)) || key[1] != int64(3) {
		t.Fatalf("ProtectKey %v differs from Protect %v", key, row[:2])
	}
	if !p.KeyProtected("orders") || p.KeyProtected("people") {
		t.Fatal("KeyProtected")
	}
	if err := p.RevealKey("orders", key); err != nil || key[0] != "k@example.com" {
		t.Fatalf("RevealKey: %v %v", key, err)
	}
	if err := p.Reveal("orders", row); err != nil || row[0] != "k@example.com" || row[2] != "s" {
		t.Fatalf("Reveal: %v %v", row, err)
	}
}

// TestKeyTokenAndSealedBytes: tokens and sealed bytes are reversible, stable
// and hold no plaintext.
func TestKeyTokenAndSealedBytes(t *testing.T) {
	ks := cleartextKeyset(t)
	p, q := newProtector(t, ks), newProtector(t, ks)
	key := []any{[]byte("k@example.com"), int64(3)}
	tok, err := p.KeyToken("orders", key)
	if err != nil {
		t.Fatal(err)
	}
	tok2, _ := q.KeyToken("orders", key)
	if !strings.HasPrefix(tok, "pii:") || tok != tok2 || strings.Contains(tok, "example") {
		t.Fatalf("token %q / %q", tok, tok2)
	}
	back, err := q.OpenKeyToken("Orders", tok)
	if err != nil || !reflect.DeepEqual(back, key) {
		t.Fatalf("OpenKeyToken: %v %v", back, err)
	}
	if _, err := q.OpenKeyToken("people", tok); err == nil {
		t.Fatal("a token of one table opened as another's")
	}
	if _, err := p.KeyToken("people", []any{int64(1)}); err == nil {
		t.Fatal("KeyToken for a table without protected key columns")
	}
	bound := []byte("\x02i\x00\x00k@example.com")
	sealed, err := p.SealBytes("orders", bound)
	if err != nil || bytes.Contains(sealed, []byte("example")) {
		t.Fatalf("SealBytes: %q %v", sealed, err)
	}
	s2, _ := q.SealBytes("orders", bound)
	opened, err := q.OpenBytes("orders", sealed)
	if err != nil || !bytes.Equal(opened, bound) || !bytes.Equal(s2, sealed) {
		t.Fatalf("OpenBytes: %q %v", opened, err)
	}
	if b, err := p.SealBytes("orders", nil); b != nil || err != nil {
		t.Fatal("nil bound must stay nil")
	}
}

// TestNoPolicyCostsNothing: the zero Protector and a table without policies
// leave rows alone without allocating.
func TestNoPolicyCostsNothing(t *testing.T) {
	var zero pii.None
	p := newProtector(t, cleartextKeyset(t))
	empty, err := pii.New(context.Background(), pii.Config{}, []pii.Table{people})
	if err != nil {
		t.Fatal(err)
	}
	var nilP *pii.Protector
	row := []any{int64(1), "x", "y", "z", "w", "v"}
	plain := []any{int64(1), "2"}
	for name, f := range map[string]func() error{
		"zero":        func() error { return zero.Protect("people", row) },
		"nil":         func() error { return nilP.Protect("people", row) },
		"no config":   func() error { return empty.Protect("people", row) },
		"other table": func() error { return p.Protect("plain", plain) },
	} {
		if allocs := testing.AllocsPerRun(100, func() {
			if err := f(); err != nil {
				t.Fatal(err)
			}
		}); allocs != 0 {
			t.Errorf("%s: %v allocations per row", name, allocs)
		}
	}
	if !reflect.DeepEqual(row, []any{int64(1), "x", "y", "z", "w", "v"}) || zero.Enabled() || empty.Enabled() || !p.Enabled() {
		t.Fatalf("row changed or Enabled wrong: %v", row)
	}
}

// TestCheck: the live writer's table shapes must match the protector's.
func TestCheck(t *testing.T) {
	p := newProtector(t, cleartextKeyset(t))
	if err := p.Check(people); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(pii.Table{Name: "plain", Columns: []string{"id"}, Key: []int{0}}); err != nil {
		t.Fatalf("a table without policies: %v", err)
	}
	reordered := pii.Table{Name: "people", Columns: []string{"id", "phone", "email", "note", "token", "nick"}, Key: []int{0}}
	if err := p.Check(reordered); err == nil {
		t.Fatal("a different column order must be refused")
	}
	partial, _ := pii.New(context.Background(), pii.Config{Keyset: p2ks(t), Tables: peoplePolicies()}, []pii.Table{orders})
	if err := partial.Check(people); err == nil || !strings.Contains(err.Error(), "not built for it") {
		t.Fatalf("a protector built without a table with policies: %v", err)
	}
	var zero pii.None
	if err := zero.Check(people); err != nil {
		t.Fatalf("the zero protector knows no policies: %v", err)
	}
}

func p2ks(t *testing.T) pii.Keyset { return cleartextKeyset(t) }

// TestColumnShortForm: `email: deterministic` reads like {policy: ...} in
// JSON (how the config rides in a DoFn), and the config round-trips.
func TestColumnShortForm(t *testing.T) {
	var c pii.Config
	if err := json.Unmarshal([]byte(`{"tables":{"t":{"a":"deterministic","b":{"policy":"none","reason":"r"}}}}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.Tables["t"]["a"].Policy != pii.PolicyDeterministic || c.Tables["t"]["b"].Reason != "r" {
		t.Fatalf("%+v", c)
	}
	data, _ := json.Marshal(c)
	var back pii.Config
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip: %s %v", data, err)
	}
}

func BenchmarkProtect(b *testing.B) {
	ks := cleartextKeyset(b)
	three := pii.Table{Name: "t", Columns: []string{"id", "email", "phone", "name", "n"}, Key: []int{0}}
	cfg := pii.Config{Keyset: ks, Tables: map[string]map[string]pii.Column{"t": {
		"email": {Policy: pii.PolicyEncrypt}, "phone": {Policy: pii.PolicyEncrypt}, "name": {Policy: pii.PolicyEncrypt}}}}
	p, err := pii.New(context.Background(), cfg, []pii.Table{three})
	if err != nil {
		b.Fatal(err)
	}
	det := cfg
	det.Tables = map[string]map[string]pii.Column{"t": {"email": {Policy: pii.PolicyDeterministic}, "phone": {Policy: pii.PolicyHash}, "name": {Policy: pii.PolicyEncrypt}}}
	q, _ := pii.New(context.Background(), det, []pii.Table{three})
	for name, pr := range map[string]*pii.Protector{"3xencrypt": p, "det+hash+encrypt": q} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			row := make([]any, 5)
			for i := 0; i < b.N; i++ {
				row[0], row[1], row[2], row[3], row[4] = int64(i), "someone@example.com", "+49 30 1234567", "Erika Mustermann", int64(42)
				if err := pr.Protect("t", row); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestConcurrentUse: one Protector serves many goroutines (the live
// writer's callers, a worker's bundles); run with -race.
func TestConcurrentUse(t *testing.T) {
	p := newProtector(t, cleartextKeyset(t))
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func(g int) {
			for i := 0; i < 200; i++ {
				phone := strings.Repeat("5", g+1) + "-" + string(rune('a'+i%26))
				row := []any{int64(g*1000 + i), "same@example.com", phone, "n", "t", "x"}
				if err := p.Protect("people", row); err != nil {
					done <- err
					return
				}
				if err := p.Reveal("people", row); err != nil || row[2] != phone || row[1] != "same@example.com" {
					done <- errUnavailable
					return
				}
			}
			done <- nil
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
