// Package pii owns the protection of personal and secret data: the spec's
// `pii:` section (Config), the keysets that protect it (a KMS-wrapped Tink
// keyset file), the Protector that rewrites cells of a row, and the coverage
// audit that refuses to copy columns that look personal and have no policy.
//
// The one idea: protection is one step between convert and write, applied
// with the same policies, keys and associated data on both paths — the
// backfill (after Mapping.Convert) and the application's live writes
// (livewrite) — so the target never holds a protected value in clear, and a
// deterministic ciphertext written by one path equals the one written by the
// other. Nothing after the step (write, dead letter, metric, progress) sees
// a protected plaintext.
//
// Policies, per Spanner column:
//
//	encrypt        AES-256-GCM (Tink AEAD). Associated data: table, column and the row's key.  BYTES(MAX)
//	deterministic  AES-SIV (Tink DAEAD). Associated data: a domain (default table.column).     BYTES(MAX)
//	hash           HMAC-SHA256 (Tink PRF) over domain and value, 32 bytes, one-way.             BYTES(32)
//	redact         NULL, or a fixed STRING value.                                                mapped type, nullable / STRING(MAX)
//	none           unchanged, with a recorded reason.                                           mapped type
//
// NULL stays NULL under every policy: whether a value is present is not
// hidden. Values are encoded before encryption in a canonical, type-tagged
// form (encode.go), so decryption gives back the exact Go value (int64,
// string, []byte, *big.Rat, civil.Date, time.Time, []string, JSON, ...).
//
// Associated data of encrypt binds the table, the column and the key AS
// STORED in Spanner (after its own protection), each field length-prefixed.
// Why the stored key and not the plaintext key: a row read back from Spanner
// can always be decrypted from what the row itself holds — verify and `pii
// decrypt` need no other lookup — and it works for a key column under hash,
// which cannot be reversed to a plaintext at all. Since deterministic
// protection of a key is a bijection, binding the stored key binds the
// plaintext key just as tightly. A ciphertext copied to another row, column
// or table fails to decrypt.
//
// Deterministic and hash outputs must be equal for equal values, so their
// associated data cannot name the row: it names a domain, by default the
// column itself; columns that must join share a `domain:`. A key column may
// be deterministic or hash (never encrypt or redact: equal keys must stay
// equal); it is protected first, so the encrypt columns bind the stored key.
//
// Keys: see keys.go. A keyset file holds an AEAD, a deterministic AEAD and a
// PRF keyset, wrapped by a key-encryption keyset that a KMS key wraps, so New
// makes exactly one KMS call, in Setup, and none per value. Tink writes the
// key id into every AEAD and DAEAD ciphertext, so after `keys rotate` old
// values still decrypt. A failure to load fails closed: New returns an error
// before any row is read, and there is no plaintext fallback.
//
// Printing keys: where a key column is protected, dead letters and logs show
// KeyToken (a deterministic, reversible token) and the progress table stores
// chunk bounds sealed with SealBytes. Errors of this package name tables and
// columns, never values or key material.
package pii
