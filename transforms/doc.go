// Package transforms owns the Beam steps of the data path and the pieces
// they are made of: the chunk planner step, the chunk reader, the row
// converter, the protect hook and the Spanner writer.
//
// The one idea: a chunk is the unit of work, of retry and of progress. One
// DoFn call copies one chunk end to end — read a page, convert, protect,
// buffer, commit — and only when every row of the chunk is committed (or
// dead-lettered) is the chunk done. Rows never cross a shuffle, so a bundle
// holds at most one page and one batch in memory per chunk in flight, and a
// retried chunk is harmless because the writer never overwrites.
package transforms
