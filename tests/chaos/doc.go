// Package chaos holds the project's most important test: a backfill of
// 200,000 rows over three tables runs through the real pipeline (Prism, the
// real Reader and Writer) while a live writer changes the same rows — first
// in MySQL, then, after a random delay and in order per key, in Spanner
// through livewrite — and a killer drops the backfill's MySQL connections.
// After the writer drains, Spanner must equal MySQL in every row and column.
//
// The one idea: the test must be able to fail. The same scenario with blind
// InsertOrUpdate writes (transforms.WriteBlindUnsafe) must show a
// difference, and live ops are aimed at the keys the backfill has just read
// but not yet written, where the races are.
//
// How the backfill is told apart: its spec DSN names the test database,
// while the live writer and the killer connect without a default database
// and qualify table names, so information_schema.PROCESSLIST rows with
// DB = the test database are exactly the backfill's connections.
package chaos
