package pii

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/daead"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Protector applies the spec's policies to rows. It is a small handle, safe
// for concurrent use and cheap to copy; the zero value protects nothing.
type Protector struct{ s *state }

// None is the Protector that protects nothing (the zero value).
type None = Protector

type state struct {
	cfg    Config
	tables map[string]*tableProt // tables with at least one protected column, by given name
	fold   map[string]*tableProt // the same, by lower-case name
	aead   tink.AEAD
	daead  tink.DeterministicAEAD
	prf    *prf.Set
	pool   sync.Pool // *scratch
}

type scratch struct{ pt, ad, key []byte }

type tableProt struct {
	t        Table
	keyCols  []*colProt // protected key columns
	valCols  []*colProt // protected other columns
	byKeyPos []*colProt // per key position, nil when unprotected
	byIdx    []*colProt // per column, nil when unprotected
	hasAEAD  bool
	tokenAD  []byte
	bytesAD  []byte
}

type colProt struct {
	idx    int
	name   string // table.column, for errors
	policy Policy
	// ad is the fixed part of the associated data (encrypt: version, table
	// and column; deterministic: version and domain) or of the hash input.
	ad     []byte
	redact any
}

// Associated-data labels. Each use of a key gets its own label, so an
// output of one use is never accepted by another.
const (
	labelAEAD     = "livemigrate/encrypt/v1"
	labelDAEAD    = "livemigrate/deterministic/v1"
	labelHash     = "livemigrate/hash/v1"
	labelKeyToken = "livemigrate/key-token/v1"
	labelBytes    = "livemigrate/sealed-bytes/v1"
	hashLen       = 32
	tokenPrefix   = "pii:"
)

// New checks cfg against tables and builds the primitives: it reads the
// keyset once (one KMS call for a wrapped keyset) when any given table has
// an encrypt, deterministic or hash column, and never again. Every failure
// is an error before any row is touched, with no plaintext fallback.
//
// tables are the target tables whose rows will be protected. A policy for a
// table not among them is ignored here (the spec checks table names); a
// policy naming a column the table lacks, or a key column under encrypt or
// redact, is an error.
func New(ctx context.Context, cfg Config, tables []Table, opts ...Option) (*Protector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &state{cfg: cfg, tables: map[string]*tableProt{}, fold: map[string]*tableProt{}}
	s.pool.New = func() any { return new(scratch) }
	seen := map[string]bool{}
	keyed := false
	for _, t := range tables {
		low := strings.ToLower(t.Name)
		if seen[low] {
			return nil, errf("pii: table %q is given twice", t.Name)
		}
		seen[low] = true
		tp, err := resolve(&cfg, t)
		if err != nil {
			return nil, err
		}
		if tp == nil {
			continue
		}
		for _, c := range tp.byIdx {
			keyed = keyed || (c != nil && c.policy.Keyed())
		}
		s.tables[t.Name], s.fold[low] = tp, tp
	}
	if keyed {
		k, err := LoadKeys(ctx, cfg.Keyset, opts...)
		if err != nil {
			return nil, err
		}
		if s.aead, err = aead.New(k.Encrypt); err != nil {
			return nil, errf("pii: the encrypt keyset is not an AEAD keyset")
		}
		if s.daead, err = daead.New(k.Deterministic); err != nil {
			return nil, errf("pii: the deterministic keyset is not a deterministic AEAD keyset")
		}
		if s.prf, err = prf.NewPRFSet(k.Hash); err != nil {
			return nil, errf("pii: the hash keyset is not a PRF keyset")
		}
		if _, err := s.prf.ComputePrimaryPRF([]byte{0}, hashLen); err != nil {
			return nil, errf("pii: the hash keyset's primary key cannot give %d-byte outputs", hashLen)
		}
	}
	return &Protector{s: s}, nil
}

// resolve maps the policies of t to column indexes; nil when t has no
// protected column.
func resolve(cfg *Config, t Table) (*tableProt, error) {
	var cols map[string]Column
	var cfgName string
	for n, c := range cfg.Tables {
		if strings.EqualFold(n, t.Name) {
			cols, cfgName = c, n
		}
	}
	if len(cols) == 0 {
		return nil, nil
	}
	for _, k := range t.Key {
		if k < 0 || k >= len(t.Columns) {
			return nil, errf("pii: table %s: key index %d is outside its %d columns", t.Name, k, len(t.Columns))
		}
	}
	tp := &tableProt{t: t, byKeyPos: make([]*colProt, len(t.Key)), byIdx: make([]*colProt, len(t.Columns))}
	lowT := strings.ToLower(t.Name)
	tp.tokenAD = appendLPString(appendLPString(nil, labelKeyToken), lowT)
	tp.bytesAD = appendLPString(appendLPString(nil, labelBytes), lowT)
	protected := false
	for _, name := range sortedKeys(cols) {
		col := cols[name]
		idx := -1
		for i, c := range t.Columns {
			if strings.EqualFold(c, name) {
				idx = i
			}
		}
		at := fmt.Sprintf("pii.tables.%s.%s", cfgName, name)
		if idx < 0 {
			return nil, errf("%s: table %s has no column %q; use the Spanner column name (after columns.rename)", at, t.Name, name)
		}
		if col.Policy == PolicyNone {
			continue
		}
		keyPos := -1
		for p, k := range t.Key {
			if k == idx {
				keyPos = p
			}
		}
		if keyPos >= 0 && (col.Policy == PolicyEncrypt || col.Policy == PolicyRedact) {
			return nil, errf("%s: %s cannot protect a key column (the key must stay equal for equal values); use deterministic", at, col.Policy)
		}
		lowC := strings.ToLower(t.Columns[idx])
		cp := &colProt{idx: idx, name: t.Name + "." + t.Columns[idx], policy: col.Policy}
		domain := col.Domain
		if domain == "" {
			domain = lowT + "." + lowC
		}
		switch col.Policy {
		case PolicyEncrypt:
			cp.ad = appendLPString(appendLPString(appendLPString(nil, labelAEAD), lowT), lowC)
			tp.hasAEAD = true
		case PolicyDeterministic:
			cp.ad = appendLPString(appendLPString(nil, labelDAEAD), domain)
		case PolicyHash:
			cp.ad = appendLPString(appendLPString(nil, labelHash), domain)
		case PolicyRedact:
			if col.Value != nil {
				cp.redact = *col.Value
			}
		}
		tp.byIdx[idx] = cp
		if keyPos >= 0 {
			tp.byKeyPos[keyPos] = cp
			tp.keyCols = append(tp.keyCols, cp)
		} else {
			tp.valCols = append(tp.valCols, cp)
		}
		protected = true
	}
	if !protected {
		return nil, nil
	}
	if tp.hasAEAD && len(t.Key) == 0 {
		return nil, errf("pii: table %s has encrypt columns but no key columns to bind them to", t.Name)
	}
	return tp, nil
}

func (p *Protector) table(name string) *tableProt {
	if p == nil || p.s == nil || len(p.s.tables) == 0 {
		return nil
	}
	if tp, ok := p.s.tables[name]; ok {
		return tp
	}
	return p.s.fold[strings.ToLower(name)]
}

// Enabled reports whether any table has a protected column.
func (p *Protector) Enabled() bool { return p != nil && p.s != nil && len(p.s.tables) > 0 }

// Policy is the policy of a column ("" when the spec has none for it).
func (p *Protector) Policy(table, column string) Policy {
	if p == nil || p.s == nil {
		return ""
	}
	c, _ := p.s.cfg.Lookup(table, column)
	return c.Policy
}

// KeyProtected reports whether a key column of table is protected: then
// its key must never be printed or stored in clear (dead letters, the
// progress table) — use KeyToken and SealBytes.
func (p *Protector) KeyProtected(table string) bool {
	tp := p.table(table)
	return tp != nil && len(tp.keyCols) > 0
}

// Check says whether rows of t (this name, these columns in this order,
// this key) are protected correctly by p: a table with policies must have
// been given to New with the same shape. The live writer calls it.
func (p *Protector) Check(t Table) error {
	var cfg *Config
	if p != nil && p.s != nil {
		cfg = &p.s.cfg
	}
	want, err := resolve(orEmpty(cfg), t)
	if err != nil {
		return err
	}
	if want == nil {
		return nil
	}
	got := p.table(t.Name)
	if got == nil {
		return errf("pii: table %s has protected columns but the protector was not built for it; pass it to pii.New", t.Name)
	}
	if !sameShape(got.t, t) {
		return errf("pii: table %s: the protector was built for columns %v key %v, rows come as %v key %v", t.Name, got.t.Columns, got.t.Key, t.Columns, t.Key)
	}
	return nil
}

func orEmpty(c *Config) *Config {
	if c == nil {
		return &Config{}
	}
	return c
}

func sameShape(a, b Table) bool {
	if len(a.Columns) != len(b.Columns) || len(a.Key) != len(b.Key) {
		return false
	}
	for i := range a.Columns {
		if !strings.EqualFold(a.Columns[i], b.Columns[i]) {
			return false
		}
	}
	for i := range a.Key {
		if a.Key[i] != b.Key[i] {
			return false
		}
	}
	return true
}

// Protect rewrites the protected cells of row (table's column order, the
// values the converter produces) in place: key columns first, so the
// associated data of encrypt columns binds the key as it is stored in
// Spanner. NULL stays NULL. An error leaves the row unusable: never write it.
func (p *Protector) Protect(table string, row []any) error {
	tp := p.table(table)
	if tp == nil {
		return nil
	}
	if len(row) != len(tp.t.Columns) {
		return fmt.Errorf("pii: %s: row has %d values, the table %d columns", tp.t.Name, len(row), len(tp.t.Columns))
	}
	sc := p.s.pool.Get().(*scratch)
	defer p.s.pool.Put(sc)
	for _, c := range tp.keyCols {
		if err := p.protectCell(tp, c, row, sc); err != nil {
			return err
		}
	}
	if tp.hasAEAD {
		var err error
		if sc.key, err = storedKey(sc.key[:0], tp, row); err != nil {
			return err
		}
	}
	for _, c := range tp.valCols {
		if err := p.protectCell(tp, c, row, sc); err != nil {
			return err
		}
	}
	return nil
}

// ProtectKey rewrites the protected cells of a key (key column order) in
// place, as Protect stores them: for deletes on the live path and lookups.
func (p *Protector) ProtectKey(table string, key []any) error {
	tp := p.table(table)
	if tp == nil || len(tp.keyCols) == 0 {
		return nil
	}
	if len(key) != len(tp.t.Key) {
		return fmt.Errorf("pii: %s: key has %d values, the table's key %d columns", tp.t.Name, len(key), len(tp.t.Key))
	}
	sc := p.s.pool.Get().(*scratch)
	defer p.s.pool.Put(sc)
	for pos, c := range tp.byKeyPos {
		if c == nil {
			continue
		}
		v, err := p.protectValue(c, key[pos], nil, sc)
		if err != nil {
			return err
		}
		key[pos] = v
	}
	return nil
}

func (p *Protector) protectCell(tp *tableProt, c *colProt, row []any, sc *scratch) error {
	v, err := p.protectValue(c, row[c.idx], sc.key, sc)
	if err != nil {
		return err
	}
	row[c.idx] = v
	return nil
}

// protectValue returns the stored form of v under c's policy. key is the
// encoded stored key (encrypt only).
func (p *Protector) protectValue(c *colProt, v any, key []byte, sc *scratch) (any, error) {
	n, null, ok := Normalize(v)
	if !ok {
		return nil, fmt.Errorf("pii: %s: values of Go type %T cannot be protected", c.name, v)
	}
	if null {
		return nil, nil
	}
	if c.policy == PolicyRedact {
		return c.redact, nil
	}
	var err error
	switch c.policy {
	case PolicyEncrypt:
		if sc.pt, err = appendValue(sc.pt[:0], n); err != nil {
			return nil, fmt.Errorf("pii: %s: %v", c.name, err)
		}
		sc.ad = append(append(sc.ad[:0], c.ad...), key...)
		ct, err := p.s.aead.Encrypt(sc.pt, sc.ad)
		if err != nil {
			return nil, fmt.Errorf("pii: %s: encrypt: %v", c.name, err)
		}
		return ct, nil
	case PolicyDeterministic:
		if sc.pt, err = appendValue(sc.pt[:0], n); err != nil {
			return nil, fmt.Errorf("pii: %s: %v", c.name, err)
		}
		ct, err := p.s.daead.EncryptDeterministically(sc.pt, c.ad)
		if err != nil {
			return nil, fmt.Errorf("pii: %s: encrypt: %v", c.name, err)
		}
		return ct, nil
	case PolicyHash:
		if sc.pt, err = appendValue(append(sc.pt[:0], c.ad...), n); err != nil {
			return nil, fmt.Errorf("pii: %s: %v", c.name, err)
		}
		h, err := p.s.prf.ComputePrimaryPRF(sc.pt, hashLen)
		if err != nil {
			return nil, fmt.Errorf("pii: %s: hash: %v", c.name, err)
		}
		return h, nil
	}
	return v, nil
}

// storedKey encodes the key cells of a row as stored (after protection):
// a count, then per cell a length-prefixed plaintext encoding, empty for
// NULL (an encoding is never empty). It is the row part of the associated
// data of encrypt columns.
func storedKey(b []byte, tp *tableProt, row []any) ([]byte, error) {
	b = appendUvarint(b, uint64(len(tp.t.Key)))
	for _, k := range tp.t.Key {
		var err error
		if b, err = appendCell(b, row[k]); err != nil {
			return nil, fmt.Errorf("pii: %s key column %s: %v", tp.t.Name, tp.t.Columns[k], err)
		}
	}
	return b, nil
}

// appendCell appends one key cell: a 4-byte big-endian length, then the
// value's encoding; length 0 is NULL.
func appendCell(b []byte, v any) ([]byte, error) {
	n, null, ok := Normalize(v)
	if !ok {
		return nil, fmt.Errorf("values of Go type %T cannot be encoded", v)
	}
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	if null {
		return b, nil
	}
	b, err := appendValue(b, n)
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b, nil
}

// Reveal rewrites the encrypt and deterministic cells of a row read back
// from Spanner (table's column order, protected cells as []byte) to their
// plaintext values, in place. Hash and redact cells cannot be reversed and
// stay as stored. A cell that does not decrypt — wrong keyset, or a
// ciphertext moved from another row, column or table — is an error naming
// the column, never the value.
func (p *Protector) Reveal(table string, row []any) error {
	tp := p.table(table)
	if tp == nil {
		return nil
	}
	if len(row) != len(tp.t.Columns) {
		return fmt.Errorf("pii: %s: row has %d values, the table %d columns", tp.t.Name, len(row), len(tp.t.Columns))
	}
	var key []byte
	if tp.hasAEAD {
		var err error
		if key, err = storedKey(nil, tp, row); err != nil {
			return err
		}
	}
	for _, c := range tp.byIdx {
		if c == nil {
			continue
		}
		v, err := p.revealValue(c, row[c.idx], key)
		if err != nil {
			return err
		}
		row[c.idx] = v
	}
	return nil
}

// RevealKey is the inverse of ProtectKey for deterministic key columns.
func (p *Protector) RevealKey(table string, key []any) error {
	tp := p.table(table)
	if tp == nil {
		return nil
	}
	if len(key) != len(tp.t.Key) {
		return fmt.Errorf("pii: %s: key has %d values, the table's key %d columns", tp.t.Name, len(key), len(tp.t.Key))
	}
	for pos, c := range tp.byKeyPos {
		if c == nil {
			continue
		}
		v, err := p.revealValue(c, key[pos], nil)
		if err != nil {
			return err
		}
		key[pos] = v
	}
	return nil
}

func (p *Protector) revealValue(c *colProt, v any, key []byte) (any, error) {
	if v == nil || (c.policy != PolicyEncrypt && c.policy != PolicyDeterministic) {
		return v, nil
	}
	ct, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("pii: %s: stored value is %T, not the BYTES of a ciphertext", c.name, v)
	}
	if ct == nil {
		return nil, nil
	}
	var pt []byte
	var err error
	if c.policy == PolicyEncrypt {
		pt, err = p.s.aead.Decrypt(ct, append(append([]byte(nil), c.ad...), key...))
	} else {
		pt, err = p.s.daead.DecryptDeterministically(ct, c.ad)
	}
	if err != nil {
		return nil, fmt.Errorf("pii: %s: cannot decrypt (wrong keyset, or a ciphertext moved from another row, column or table)", c.name)
	}
	out, err := Decode(pt)
	if err != nil {
		return nil, fmt.Errorf("pii: %s: %v", c.name, err)
	}
	return out, nil
}

// KeyToken is a printable, reversible stand-in for a key whose columns are
// protected, for dead letters and logs: "pii:" and the base64url of the key
// (any encodable values, the driver's raw ones included) encrypted
// deterministically for this table. Equal keys give equal tokens; only a
// holder of the keyset (`livemigrate pii decrypt --token`) reads it back.
func (p *Protector) KeyToken(table string, key []any) (string, error) {
	tp := p.table(table)
	if tp == nil || len(tp.keyCols) == 0 || p.s.daead == nil {
		return "", errf("pii: table %s has no protected key columns; no token needed", table)
	}
	b := appendUvarint(nil, uint64(len(key)))
	for i, v := range key {
		var err error
		if b, err = appendCell(b, v); err != nil {
			return "", fmt.Errorf("pii: %s key value %d: %v", tp.t.Name, i+1, err)
		}
	}
	ct, err := p.s.daead.EncryptDeterministically(b, tp.tokenAD)
	if err != nil {
		return "", fmt.Errorf("pii: %s: key token: %v", tp.t.Name, err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(ct), nil
}

// OpenKeyToken gives back the key of a KeyToken.
func (p *Protector) OpenKeyToken(table, token string) ([]any, error) {
	tp := p.table(table)
	if tp == nil || len(tp.keyCols) == 0 || p.s.daead == nil {
		return nil, errf("pii: table %s has no protected key columns; its keys have no tokens", table)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(token, tokenPrefix))
	if err != nil || !strings.HasPrefix(token, tokenPrefix) {
		return nil, errf("pii: %q is not a key token (pii:...)", cut(token))
	}
	b, err := p.s.daead.DecryptDeterministically(raw, tp.tokenAD)
	if err != nil {
		return nil, errf("pii: the token is not a key token of table %s under this keyset", tp.t.Name)
	}
	return decodeCells(b)
}

func decodeCells(b []byte) ([]any, error) {
	n, k := uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errCorrupt
	}
	b = b[k:]
	out := make([]any, 0, n)
	for i := uint64(0); i < n; i++ {
		if len(b) < 4 {
			return nil, errCorrupt
		}
		l := uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
		if l > uint64(len(b)) {
			return nil, errCorrupt
		}
		if l == 0 {
			out = append(out, nil)
		} else {
			v, err := Decode(b[:l])
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		b = b[l:]
	}
	if len(b) != 0 {
		return nil, errCorrupt
	}
	return out, nil
}

// SealBytes encrypts opaque bytes of a table deterministically (equal input,
// equal output), for data that holds raw key values such as chunk bounds in
// the progress table. nil stays nil.
func (p *Protector) SealBytes(table string, b []byte) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	tp := p.table(table)
	if tp == nil || len(tp.keyCols) == 0 || p.s.daead == nil {
		return nil, errf("pii: table %s has no protected key columns; nothing to seal", table)
	}
	return p.s.daead.EncryptDeterministically(b, tp.bytesAD)
}

// OpenBytes is the inverse of SealBytes.
func (p *Protector) OpenBytes(table string, b []byte) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	tp := p.table(table)
	if tp == nil || len(tp.keyCols) == 0 || p.s.daead == nil {
		return nil, errf("pii: table %s has no protected key columns; nothing to open", table)
	}
	out, err := p.s.daead.DecryptDeterministically(b, tp.bytesAD)
	if err != nil {
		return nil, errf("pii: sealed bytes of table %s do not decrypt under this keyset", tp.t.Name)
	}
	return out, nil
}

func cut(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}
