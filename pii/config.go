package pii

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Policy says what happens to one column's values before they leave the
// worker (or the application, on the live path).
type Policy string

// Policies.
const (
	// PolicyEncrypt is AES-256-GCM (Tink AEAD) with associated data binding the
	// table, the column and the row's primary key: a ciphertext copied to
	// another cell fails to decrypt. Randomised: equal values differ.
	PolicyEncrypt Policy = "encrypt"
	// PolicyDeterministic is AES-SIV (Tink deterministic AEAD): equal values give
	// equal ciphertexts within a domain, so the column stays joinable,
	// unique and searchable by equality; allowed on key columns.
	PolicyDeterministic Policy = "deterministic"
	// PolicyHash is a keyed HMAC-SHA256 token (Tink PRF), 32 bytes, one-way.
	PolicyHash Policy = "hash"
	// PolicyRedact writes NULL, or a fixed STRING value.
	PolicyRedact Policy = "redact"
	// PolicyNone copies the column unchanged: an explicit, audited decision that
	// needs a reason.
	PolicyNone Policy = "none"
)

var policies = []Policy{PolicyEncrypt, PolicyDeterministic, PolicyHash, PolicyRedact, PolicyNone}

// Keyed reports whether the policy needs the keyset.
func (p Policy) Keyed() bool {
	return p == PolicyEncrypt || p == PolicyDeterministic || p == PolicyHash
}

// Protected reports whether the column's stored value is not its plaintext.
func (p Policy) Protected() bool { return p.Keyed() || p == PolicyRedact }

// Config is the spec's `pii:` section. It holds names, URIs and paths only,
// never key material, and is JSON-serialisable so it can ride in a Beam DoFn
// to any worker.
type Config struct {
	// Keyset says where the keys are.
	Keyset Keyset `yaml:"keyset,omitempty" json:"keyset,omitempty"`
	// Tables maps a Spanner (target) table name to its columns' policies,
	// keyed by Spanner column name (after tables[].target and
	// columns.rename). Names compare case-insensitively, as Spanner does.
	Tables map[string]map[string]Column `yaml:"tables,omitempty" json:"tables,omitempty"`
}

// Keyset locates the keysets: a file written by `livemigrate keys create`,
// wrapped by a KMS key, or (development only) a cleartext file.
type Keyset struct {
	// KMSKeyURI is the key-encryption key: gcp-kms://projects/P/locations/L/
	// keyRings/R/cryptoKeys/K, or fake-kms://... in tests.
	KMSKeyURI string `yaml:"kms_key_uri,omitempty" json:"kms_key_uri,omitempty"`
	// File is the KMS-wrapped keyset file (safe to store next to the spec:
	// without the KMS key it is useless).
	File string `yaml:"file,omitempty" json:"file,omitempty"`
	// InsecureCleartextFile is a keyset file whose keys are NOT encrypted
	// (`keys create --insecure-cleartext`): for local development only.
	InsecureCleartextFile string `yaml:"insecure_cleartext_file,omitempty" json:"insecure_cleartext_file,omitempty"`
}

// Column is one column's decision.
type Column struct {
	Policy Policy `yaml:"policy" json:"policy"`
	// Reason documents the decision; required for none.
	Reason string `yaml:"reason,omitempty" json:"reason,omitempty"`
	// Domain (deterministic, hash): columns that share a domain give equal
	// outputs for equal values, so they can be joined (e.g. orders.email
	// and customers.email, or a foreign key and the key it references).
	// Default: "table.column", which binds the output to its own column.
	Domain string `yaml:"domain,omitempty" json:"domain,omitempty"`
	// Value (redact) is written as a STRING instead of NULL.
	Value *string `yaml:"value,omitempty" json:"value,omitempty"`
}

// UnmarshalText accepts the short form `email: deterministic`.
func (c *Column) UnmarshalText(b []byte) error {
	*c = Column{Policy: Policy(strings.TrimSpace(string(b)))}
	return nil
}

// UnmarshalJSON accepts the short form (a string) and the full object.
func (c *Column) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		return c.UnmarshalText([]byte(s))
	}
	type plain Column
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*c = Column(p)
	return nil
}

// Table is a target table as the data path holds its rows: the Spanner table
// name, its column names in row order and the key columns' indexes into
// Columns, in key order. It is the shape of the backfill's plans and of
// livewrite.Table.
type Table struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
	Key     []int    `json:"key"`
}

// Error is a PII configuration or keyset problem the operator must fix: the
// CLI prints it as one line and exits 2. Its text never holds key material
// or a protected value.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// BadInput marks the error as the operator's to fix (exit 2): a bad pii
// section, an unreadable keyset or a KMS key that does not unwrap it.
func (e *Error) BadInput() bool { return true }

func errf(format string, a ...any) error { return &Error{Msg: fmt.Sprintf(format, a...)} }

var gcpKMSURI = regexp.MustCompile(`^gcp-kms://projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`)

// Enabled reports whether the section asks for anything at all.
func (c *Config) Enabled() bool { return c != nil && len(c.Tables) > 0 }

// NeedsKeys reports whether any column has a keyed policy.
func (c *Config) NeedsKeys() bool {
	if c == nil {
		return false
	}
	for _, cols := range c.Tables {
		for _, col := range cols {
			if col.Policy.Keyed() {
				return true
			}
		}
	}
	return false
}

// ExpandEnv expands ${VAR} references in the keyset's URI and paths, as
// the spec does for the source and the target (the local stack keeps the
// development keyset under $LM_STACK_DIR).
func (c *Config) ExpandEnv() {
	if c == nil {
		return
	}
	c.Keyset.KMSKeyURI = os.ExpandEnv(c.Keyset.KMSKeyURI)
	c.Keyset.File = os.ExpandEnv(c.Keyset.File)
	c.Keyset.InsecureCleartextFile = os.ExpandEnv(c.Keyset.InsecureCleartextFile)
}

// Validate checks the section on its own (table and column names are
// checked against the schema by New and by the spec). Messages are one
// line, name the key and say how to fix it.
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	if err := c.Keyset.validate(c.NeedsKeys()); err != nil {
		return err
	}
	seenT := map[string]string{}
	for _, t := range sortedKeys(c.Tables) {
		if strings.TrimSpace(t) == "" {
			return errf("pii.tables has an empty table name; use the Spanner table name")
		}
		if prev, ok := seenT[strings.ToLower(t)]; ok {
			return errf("pii.tables lists %q and %q, the same Spanner table; merge them", prev, t)
		}
		seenT[strings.ToLower(t)] = t
		seenC := map[string]string{}
		for _, name := range sortedKeys(c.Tables[t]) {
			col := c.Tables[t][name]
			at := fmt.Sprintf("pii.tables.%s.%s", t, name)
			if prev, ok := seenC[strings.ToLower(name)]; ok {
				return errf("pii.tables.%s lists %q and %q, the same Spanner column; merge them", t, prev, name)
			}
			seenC[strings.ToLower(name)] = name
			if err := col.validate(at); err != nil {
				return err
			}
		}
	}
	return nil
}

func (k Keyset) validate(needed bool) error {
	switch {
	case k.InsecureCleartextFile != "" && (k.File != "" || k.KMSKeyURI != ""):
		return errf("pii.keyset: set either file with kms_key_uri (a KMS-wrapped keyset) or insecure_cleartext_file (development only), not both")
	case k.InsecureCleartextFile != "":
		return nil
	case k.File == "" && k.KMSKeyURI == "":
		if needed {
			return errf("pii.keyset is required for encrypt, deterministic and hash: set file and kms_key_uri (create them with `livemigrate keys create`)")
		}
		return nil
	case k.File == "":
		return errf("pii.keyset.file is required with kms_key_uri: the keyset `livemigrate keys create --keyset FILE --kms-key-uri URI` writes")
	case k.KMSKeyURI == "":
		return errf("pii.keyset.kms_key_uri is required with file: the KMS key that wraps %s (gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K)", k.File)
	}
	return checkKMSURI("pii.keyset.kms_key_uri", k.KMSKeyURI)
}

func checkKMSURI(field, uri string) error {
	switch {
	case strings.HasPrefix(uri, "gcp-kms://"):
		if !gcpKMSURI.MatchString(uri) {
			return errf("%s %q must look like gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K", field, uri)
		}
	case strings.HasPrefix(uri, fakeKMSPrefix):
		if len(uri) == len(fakeKMSPrefix) {
			return errf("%s: fake-kms:// needs a key (tests only: fakekms.NewKeyURI)", field)
		}
	default:
		return errf("%s %s: unsupported KMS; use gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K", field, RedactURI(uri))
	}
	return nil
}

func (c Column) validate(at string) error {
	known := false
	for _, p := range policies {
		known = known || c.Policy == p
	}
	switch {
	case c.Policy == "":
		return errf("%s: policy is required; use one of encrypt, deterministic, hash, redact, none", at)
	case !known:
		return errf("%s: unknown policy %q; use one of encrypt, deterministic, hash, redact, none", at, c.Policy)
	case c.Policy == PolicyNone && strings.TrimSpace(c.Reason) == "":
		return errf("%s: policy none needs a reason (why this column is not personal or secret), e.g. {policy: none, reason: \"public product name\"}", at)
	case c.Domain != "" && c.Policy != PolicyDeterministic && c.Policy != PolicyHash:
		return errf("%s: domain applies to deterministic and hash only; remove it", at)
	case c.Value != nil && c.Policy != PolicyRedact:
		return errf("%s: value applies to redact only; remove it", at)
	}
	return nil
}

// Lookup returns the decision for a column (names compare
// case-insensitively) and whether there is one.
func (c *Config) Lookup(table, column string) (Column, bool) {
	if c == nil {
		return Column{}, false
	}
	cols, ok := c.Tables[table]
	if !ok {
		for t, cc := range c.Tables {
			if strings.EqualFold(t, table) {
				cols, ok = cc, true
				break
			}
		}
	}
	if !ok {
		return Column{}, false
	}
	if col, ok := cols[column]; ok {
		return col, true
	}
	for n, col := range cols {
		if strings.EqualFold(n, column) {
			return col, true
		}
	}
	return Column{}, false
}

// SpannerType is the DDL type of a column with this decision, given the
// type the mapping chose for it (mapped), and whether the column must
// become nullable: encrypt and deterministic → BYTES(MAX); hash →
// BYTES(32); redact → the mapped type, nullable (NULL is written), or
// STRING(MAX) with a fixed value; none → mapped.
func (c Column) SpannerType(mapped string) (typ string, nullable bool) {
	switch c.Policy {
	case PolicyEncrypt, PolicyDeterministic:
		return "BYTES(MAX)", false
	case PolicyHash:
		return "BYTES(32)", false
	case PolicyRedact:
		if c.Value != nil {
			return "STRING(MAX)", false
		}
		return mapped, true
	}
	return mapped, false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

const fakeKMSPrefix = "fake-kms://"

// RedactURI shows a KMS key URI in messages: gcp-kms URIs are resource
// names and shown whole; fake-kms URIs carry their key and are cut.
func RedactURI(uri string) string {
	if strings.HasPrefix(uri, "gcp-kms://") {
		return uri
	}
	if i := strings.Index(uri, "://"); i >= 0 {
		return uri[:i+3] + "…"
	}
	if len(uri) > 8 {
		return uri[:8] + "…"
	}
	return uri
}
