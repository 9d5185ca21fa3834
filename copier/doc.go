// Package copier owns the data path of one chunk, outside Beam: read →
// convert → protect → write → re-validate, plus planning a table's chunks
// (or reading back its stored plan). Beam's DoFns (package copier) are
// thin wrappers around an Engine; tests, the benchmark and the verify job
// call the same code directly.
//
// The one idea: a chunk is the unit of work, of retry and of progress. One
// call copies one chunk end to end — read a page, convert, protect, buffer,
// commit — and only when every row of the chunk is committed (or
// dead-lettered) is the chunk done. Rows never cross a shuffle, so a worker
// holds at most one page and one batch in memory per chunk in flight, and a
// retried chunk is harmless because the writer never overwrites. Every
// source query of the engine goes through one source.Querier (the throttle
// gate, then the query, retried when transient), and the gate and the PII
// protector are built once per worker process from the job configuration.
//
// With a job ID a chunk in flight records its rows so far in the progress
// table every ProgressEvery, between two pages, and reads there whether its
// job must stop (an interrupt, or another run took the job over): then it
// returns ErrStopped after the pages it has read are committed, and the
// chunk stays not done for the resumed run. Source and target outages are
// ridden out inside the engine for the job's retry windows (SourceRetry,
// TargetRetry), even while a worker opens its pool.
//
// # Writing next to live writes (why the dedup is correct)
//
// The live path (package livewrite) applies every MySQL commit to Spanner
// after it commits, in order per key, as a full-row upsert or a delete, and
// in the same Spanner commit marks the key in the shadow table lm_shadow_T:
// lm_deleted=false for an upsert, true (a tombstone) for a delete. Take any
// key k and the LAST live write L of k, applied at Spanner time S_L. After
// S_L MySQL and the live path agree on k, so only the backfill could still
// make Spanner wrong, in two ways:
//
//   - A backfill insert at W > S_L. The writer reads k's shadow row in its
//     read-write transaction (serialised with L by Spanner). If L was an
//     upsert the key carries the live mark: skipped (insert-if-absent never
//     overwrites a marked key; version mode never overwrites a live-marked
//     key either, so a version counter that restarts after delete+re-insert
//     cannot fool it). If L was a delete, the tombstone is there: skipped. A
//     backfill write at W < S_L is overwritten or deleted by L itself, so it
//     does not matter how stale it was. This covers the read→write window
//     (the row changed or vanished in MySQL after our read), a live delete
//     arriving before or after our insert, and retried bundles. Before the
//     transaction, strong reads of the batch's keys and shadow rows outside
//     it settle the keys whose fate cannot change any more (present,
//     live-marked or tombstoned: a present row only leaves with a tombstone,
//     and marks are never removed), so the transaction reads only the
//     remaining candidates' shadow rows; a candidate that another copy of
//     the backfill inserted meanwhile is simply written again (both copies
//     were read from MySQL, and any later MySQL change arrives through L).
//     On a first copy the prefilter settles nothing, so a writer skips it
//     after one such batch (trying it again every few batches): it is a
//     saving, never the guarantee.
//   - A re-validation delete at D > S_L. Re-validation deletes a row only if
//     the key has no shadow row at all, i.e. no live write happened since the
//     backfill wrote it; after L the key is marked, so it is left alone. The
//     condition is the mark, never the values: a delete followed by a
//     re-insert of identical values leaves a mark and is not mistaken for
//     the backfill's own row.
//
// Keys the live path never touches during the backfill are read at their
// final value and inserted once. Re-validation is the second line for a live
// path that loses a delete: after each commit the writer asks MySQL (one
// range query over the batch's keys) which written keys still exist, and for
// the missing ones, in one transaction, deletes the row and leaves a
// tombstone when the key is still unmarked. If MySQL re-inserts the key
// after our query, its live upsert either already marked it (we skip) or
// comes after our delete and restores it; the tombstone also stops a slower
// duplicate of the same stale row. Re-running a finished chunk reads rows
// that are all present (or tombstoned), so it writes nothing — the same
// shape as Google's shadow tables (datastream-to-spanner) with the backfill
// as the reader that yields to any key the change stream touched, and as
// DBLog's rule that a change event inside a chunk's window wins over the
// chunk's copy.
package copier
