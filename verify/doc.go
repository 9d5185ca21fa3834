// Package verify owns proving that the target equals the source: per
// chunk, every source row as the backfill would write it against the row
// Spanner holds for the same key, plus every key Spanner holds checked for
// existence in the source; differences re-checked after the live path has
// had time to settle, classified, stored per run, and (on request)
// repaired. It is Beam-free like copier: the DoFns of package transforms
// call it, and so do tests and the benchmark.
//
// The one idea: compare what Spanner stores with what the backfill would
// store, key by exact key, after the mapping. Source rows come through the
// engine's own Read (the same read → convert → protect the backfill
// applies, through the throttled source.Querier), so TIMESTAMP precision,
// time zones, JSON normalisation, SET order, CHAR trailing spaces, -0.0,
// NUMERIC scale and deterministic ciphertexts compare exactly as the
// backfill wrote them, and a row is different only when Spanner would store
// a different cell (rowdiff.Row: type-tagged, length-prefixed canonical
// encodings with NULL a tag of its own, so "12"+"3" never equals "1"+"23").
// A difference names its key and its columns, never a value.
//
// # Why source chunks are looked up by key, never scanned as a range
//
// A source chunk is a MySQL key interval (Lower, Upper] in MySQL's order,
// which for a string key is its collation's order. Spanner orders STRING
// keys by their UTF-8 bytes. Under utf8mb4_general_ci, 'B' < 'a' in Spanner
// but 'a' < 'B' in MySQL, and 'abc' and 'ABC' are one MySQL key but two
// Spanner keys; even a _bin collation pads with spaces ('a\t' < 'a' in
// MySQL, the other way round in Spanner). So the Spanner range between a
// chunk's converted bounds holds neither exactly the chunk's rows nor only
// them, and comparing two range scans reports false differences (data-diff
// #762). Instead, each page of source rows is looked up in Spanner with a
// KeySet of exactly the page's converted keys (one batched read), and a row
// is missing when Spanner has no row under that exact key.
//
// # Why extras are found from Spanner's side, and how existence is asked
//
// Rows that exist only in Spanner cannot be seen from the source pages. So
// Spanner's keys are scanned too, key columns only, in partitions that are
// Spanner key ranges: the chunk plan's bounds, converted to Spanner keys and
// sorted in Spanner's order (target.CompareKeys), tile Spanner's key space — any
// sorted set of split points does, whatever the source order, so the chunk
// plan only balances the partitions. Each partition's keys are then asked
// of MySQL in batches. The question is "does MySQL hold a row whose key
// converts to exactly this Spanner key", and two ways of asking it are
// wrong:
//
//   - One range query per batch, between the batch's first and last Spanner
//     key: in MySQL's order that range may be empty or reversed ('B'..'a'
//     is empty under a _ci collation), so present keys look absent.
//   - WHERE (k1, k2) IN (batch) and "returned means present": MySQL compares
//     under the collation, so 'ABC' finds the row 'abc'. But Spanner's 'ABC'
//     is not the row the backfill wrote for 'abc' (that one is 'abc'): the
//     target holds a stale or different key, and it must be reported.
//
// So verify asks with IN (the index answers it with a range scan, and IN
// finds collation-equal rows as a superset), converts each key MySQL
// returns through the mapping (and PII protection), and counts a Spanner
// key as present only when one returned key encodes to exactly the same
// bytes. A Spanner key with no exact match is extra; when MySQL holds a
// collation-equal key with other bytes, the extra says so (and the source
// pass reports that key as missing). Mapping a Spanner key back to MySQL
// parameters (sourceParam) is per type and only selects candidates; the
// exact comparison decides, so a value no MySQL row can convert to is simply
// absent.
//
// # In-flight writes: settle and re-check
//
// The live path writes MySQL first and Spanner a little later, so a key
// written during the read can differ for a moment. A unit keeps its
// differing keys (at most max_diffs; more are counted as unconfirmed), waits
// the settle delay, then reads just those keys again from both sides —
// MySQL first, then Spanner's row, then its shadow row (livewrite's
// lm_commit_ts; a live write landing in between only shows as one more
// touch). A key that now agrees was in flight. A key
// that still differs is reported only if the live path has not touched it
// since the previous read began (a margin for clocks included); a touched
// key may be in flight again and gets another round, up to the configured
// rounds, after which it is reported as unsettled (a key the live path keeps
// rewriting in full cannot stay drifted, but it cannot be proven equal
// either). The argument: a difference caused by a live write in flight has
// that write's Spanner commit after the source read began, which marks the
// shadow row; so with a settle delay longer than the live path's lag, only
// persistent differences survive.
//
// # Repair
//
// --repair fixes persistent differences with one guarded read-write
// transaction per batch: before reading the source rows it takes a strong
// Spanner timestamp ts0; in the transaction it reads each key's shadow row
// and yields to any live write committed after ts0 (the live path is the
// authority for what it wrote since). Otherwise it writes the source's
// current full row (missing or different), or deletes a row the source does
// not hold and leaves a tombstone (extra), as re-validation does. Why it is
// safe: a live write the source read did not see commits in MySQL after the
// read, hence in Spanner after ts0, so it is either seen in the transaction
// (and wins) or lands after the repair (and overwrites it). Repaired keys
// are read again from both sides and reported as repaired only when they
// now agree. copier.Writer's insert-if-absent cannot do this: it never
// overwrites a present row nor writes over a tombstone, and re-validation
// deletes only rows it just wrote.
//
// # Results
//
// Each finished unit (a source chunk, or a Spanner key range) stores its
// counts and its differences (kind, printed key, column names) in
// livemigrate_verify_units; a source chunk is also marked done in the
// backfill's progress table, whose stored plan the run reuses, so a rerun
// with the same job id verifies only what is left. The launcher sums the
// units into one row per table and run in livemigrate_verify, which
// `verify --history` reads. Keys are printed by one function (Verifier.Key):
// schema.KeyString, or the PII key token where the key is protected.
package verify
