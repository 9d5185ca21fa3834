package verify

import (
	"math/big"

	"cloud.google.com/go/spanner"

	"github.com/livemigrate/livemigrate/schema"
)

// Protection is what verify needs from the PII protector besides the
// Protect step the engine already applies to every source row. The pii
// package's Protector has these methods; verify finds them on the engine's
// protector by a type assertion, so nothing is wired by hand. Every call
// runs inside the worker: no plaintext leaves it.
type Protection interface {
	// Reveal rewrites the protected cells of a stored row (target column
	// order) to their plaintexts, in place: encrypt (AEAD) cells have a
	// fresh nonce per write, so two rows compare only once revealed.
	Reveal(table string, row []any) error
	// RevealKey rewrites a stored key's deterministic cells to plaintext.
	RevealKey(table string, key []any) error
	// ProtectKey rewrites a plaintext key to its stored form.
	ProtectKey(table string, key []any) error
	// KeyProtected says whether the table's key is stored protected; its
	// keys are then printed as tokens.
	KeyProtected(table string) bool
	// KeyToken is the printable, reversible stand-in of a plaintext key.
	KeyToken(table string, key []any) (string, error)
}

// Key renders a stored key for reports, logs and the results table: its
// canonical text (schema.KeyString), or, where the table's key is
// protected, the PII key token of its plaintext. Every key verify prints
// goes through here.
func (v *Verifier) Key(table string, stored []any) string {
	if v.Prot != nil && v.Prot.KeyProtected(table) {
		plain := append([]any(nil), stored...)
		if err := v.Prot.RevealKey(table, plain); err != nil {
			return "pii:unreadable"
		}
		tok, err := v.Prot.KeyToken(table, plain)
		if err != nil {
			return "pii:unreadable"
		}
		return tok
	}
	return schema.KeyString(spanner.Key(stored))
}

// keyPart turns a converted key value into one spanner.Key accepts (the
// client takes big.Rat, not *big.Rat).
func keyPart(v any) any {
	if r, ok := v.(*big.Rat); ok && r != nil {
		return *r
	}
	return v
}

// spannerKey builds a Spanner key from converted key values.
func spannerKey(vals []any) spanner.Key {
	k := make(spanner.Key, len(vals))
	for i, v := range vals {
		k[i] = keyPart(v)
	}
	return k
}

// enc is the map key of a key: its canonical encoding, equal exactly when
// Spanner would store the same key.
func enc(key []any) string { return string(schema.CanonicalRow(key)) }
