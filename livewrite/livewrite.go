// Package livewrite owns the Spanner half of the application's dual write
// during a migration, and the shadow tables that half shares with the
// backfill: the contract between the live path and the backfill, as code.
//
// The one idea: the live path is the authority for every key it has
// touched, and it leaves a mark in a shadow table saying so. Each data table
// T gets a shadow table lm_shadow_T with T's key columns, lm_deleted and
// lm_commit_ts (a commit timestamp). Every live write is one atomic commit of
// two mutations:
//
//	Upsert(row): InsertOrUpdate T (the FULL row)  + InsertOrUpdate lm_shadow_T (key, lm_deleted=false, commit ts)
//	Delete(key): Delete T (key)                    + InsertOrUpdate lm_shadow_T (key, lm_deleted=true,  commit ts)
//
// A delete thus leaves a tombstone, and any live write leaves a mark. The
// backfill (transforms.Writer) reads the data row and the shadow row of
// every key of a batch in its read-write transaction and inserts only keys
// that are absent AND have no tombstone; it removes a row in re-validation
// only if the key has no shadow row at all, i.e. no live write has happened
// since the backfill wrote it. See transforms' package comment for why this
// is correct under every interleaving.
//
// The contract the application must keep (README "Dual writes"):
//
//  1. Write to Spanner only after the MySQL transaction committed, and for
//     one key in MySQL commit order (a key's next write waits until its
//     previous one returned success). Different keys may go in any order
//     and concurrently.
//  2. Write full rows (every column of the table), never partial updates:
//     the backfill treats a live row as newer than anything it read.
//  3. Apply every MySQL change, deletes included, through this package (or
//     the same mutations in the application's own transaction via
//     UpsertMutations/DeleteMutations), from before the backfill starts
//     until cutover. A failed write is retried until it succeeds; a retry is
//     harmless because every call is idempotent (a full-row upsert or a
//     delete with its tombstone, last writer wins).
//  4. Keep the shadow tables until every backfill run is finished; drop
//     them (DropDDL) after cutover.
//
// Writes go through target.ReadWrite (the project's retry policy, which
// also copes with the emulator's one-transaction-at-a-time limit), and a
// Writer is safe for concurrent use.
//
// Personal data: with a protector (SetProtector, built by pii.New from the
// spec's pii section — read it with piispec.Load), every row and key is
// protected before it becomes a mutation, with the same policies, keys and
// associated data as the backfill, so both paths store identical
// deterministic ciphertexts and the target never holds a protected value in
// clear. The caller's row and key slices are not modified.
package livewrite

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"

	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/target"
)

// Shadow table layout.
const (
	ShadowPrefix = "lm_shadow_"
	ColDeleted   = "lm_deleted"
	ColCommitTs  = "lm_commit_ts"
)

// ShadowTable names the shadow table of a Spanner data table.
func ShadowTable(table string) string { return ShadowPrefix + table }

// ShadowColumns lists the shadow table's columns: the key, then the marks.
func ShadowColumns(key []string) []string {
	return append(append(make([]string, 0, len(key)+2), key...), ColDeleted, ColCommitTs)
}

// ShadowDDL renders the CREATE TABLE of p's shadow table.
func ShadowDDL(p *schema.TablePlan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (\n", schema.QuoteSpanner(ShadowTable(p.Target)))
	keys := make([]string, len(p.Key))
	for i, k := range p.Key {
		c := p.Cols[k]
		fmt.Fprintf(&b, "  %s %s NOT NULL,\n", schema.QuoteSpanner(c.Target), c.Mapping.SpannerType)
		keys[i] = schema.QuoteSpanner(c.Target)
	}
	fmt.Fprintf(&b, "  %s BOOL NOT NULL,\n", ColDeleted)
	fmt.Fprintf(&b, "  %s TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),\n", ColCommitTs)
	fmt.Fprintf(&b, ") PRIMARY KEY (%s)", strings.Join(keys, ", "))
	return b.String()
}

// DDL returns the CREATE TABLE statements of the shadow tables of plans
// that existing (Spanner table names) does not hold yet; plan --apply runs
// them with the data tables' DDL.
func DDL(plans []schema.TablePlan, existing map[string]bool) []string {
	var out []string
	for i := range plans {
		if !existing[ShadowTable(plans[i].Target)] {
			out = append(out, ShadowDDL(&plans[i]))
		}
	}
	return out
}

// DropDDL returns the statements that drop the shadow tables after cutover.
func DropDDL(plans []schema.TablePlan) []string {
	out := make([]string, len(plans))
	for i := range plans {
		out[i] = "DROP TABLE " + schema.QuoteSpanner(ShadowTable(plans[i].Target))
	}
	return out
}

// Mark is the shadow mutation for key: a tombstone when deleted, else the
// live-write mark. The backfill's re-validation writes tombstones with it.
func Mark(table string, key []string, k spanner.Key, deleted bool) *spanner.Mutation {
	vals := make([]any, 0, len(k)+2)
	vals = append(vals, k...)
	vals = append(vals, deleted, spanner.CommitTimestamp)
	return spanner.InsertOrUpdate(ShadowTable(table), ShadowColumns(key), vals)
}

// Table describes one data table to the live writer.
type Table struct {
	Name    string   // Spanner table
	Columns []string // every column, in the order Upsert rows are given in
	Key     []string // primary key columns in key order (all in Columns)

	keyIdx []int
}

// TableFromPlan describes a planned target table (rows in plan column order,
// the values transforms.Converter produces).
func TableFromPlan(p *schema.TablePlan) Table {
	return Table{Name: p.Target, Columns: p.TargetColumns(), Key: p.TargetKey()}
}

// Writer applies live writes to Spanner. Safe for concurrent use.
type Writer struct {
	client *spanner.Client
	tables map[string]*Table
	prot   *pii.Protector
}

// PIITables describes tables to pii.New in the shape the Writer hands rows
// to the protector: build the protector with them.
func PIITables(tables ...Table) ([]pii.Table, error) {
	out := make([]pii.Table, 0, len(tables))
	for _, t := range tables {
		pt := pii.Table{Name: t.Name, Columns: t.Columns}
		for _, k := range t.Key {
			i := indexFold(t.Columns, k)
			if i < 0 {
				return nil, fmt.Errorf("livewrite: table %s: key column %s is not in Columns", t.Name, k)
			}
			pt.Key = append(pt.Key, i)
		}
		out = append(out, pt)
	}
	return out, nil
}

// SetProtector makes every later write protect its rows and keys with p.
// It refuses a protector that was built for other table shapes, or without
// a table of this writer that has policies. Call it before the first write.
//
//	cfg, err := piispec.Load("spec.yaml")              // the spec's pii: section
//	tabs, err := livewrite.PIITables(tables...)
//	p, err := pii.New(ctx, *cfg, tabs)                 // one KMS call
//	lw, err := livewrite.New(client, tables...)
//	err = lw.SetProtector(p)
func (w *Writer) SetProtector(p *pii.Protector) error {
	names := make([]string, 0, len(w.tables))
	for n := range w.tables {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		pt, err := PIITables(*w.tables[n])
		if err != nil {
			return err
		}
		if err := p.Check(pt[0]); err != nil {
			return fmt.Errorf("livewrite: %w", err)
		}
	}
	w.prot = p
	return nil
}

// New returns a Writer for the given tables.
func New(client *spanner.Client, tables ...Table) (*Writer, error) {
	w := &Writer{client: client, tables: map[string]*Table{}}
	for _, t := range tables {
		t := t
		if t.Name == "" || len(t.Key) == 0 {
			return nil, fmt.Errorf("livewrite: table %q needs a name and key columns", t.Name)
		}
		for _, k := range t.Key {
			i := indexFold(t.Columns, k)
			if i < 0 {
				return nil, fmt.Errorf("livewrite: table %s: key column %s is not in Columns", t.Name, k)
			}
			t.keyIdx = append(t.keyIdx, i)
		}
		w.tables[t.Name] = &t
	}
	return w, nil
}

func indexFold(list []string, s string) int {
	for i, x := range list {
		if strings.EqualFold(x, s) {
			return i
		}
	}
	return -1
}

func (w *Writer) table(name string) (*Table, error) {
	t, ok := w.tables[name]
	if !ok {
		return nil, fmt.Errorf("livewrite: table %q was not given to New", name)
	}
	return t, nil
}

// UpsertMutations are the mutations of a full-row upsert, for an
// application that commits them in its own read-write transaction.
func (w *Writer) UpsertMutations(table string, row []any) ([]*spanner.Mutation, error) {
	m, _, _, err := w.upsertMutations(table, row)
	return m, err
}

func (w *Writer) upsertMutations(table string, row []any) ([]*spanner.Mutation, *Table, spanner.Key, error) {
	t, err := w.table(table)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(row) != len(t.Columns) {
		return nil, nil, nil, fmt.Errorf("livewrite: %s: row has %d values, the table %d columns (live writes must be full rows)", table, len(row), len(t.Columns))
	}
	if w.prot.Enabled() {
		row = append([]any(nil), row...)
		if err := w.prot.Protect(t.Name, row); err != nil {
			return nil, nil, nil, fmt.Errorf("livewrite: %w", err)
		}
	}
	k := make(spanner.Key, len(t.keyIdx))
	for i, j := range t.keyIdx {
		k[i] = target.KeyPart(row[j])
	}
	return []*spanner.Mutation{
		spanner.InsertOrUpdate(t.Name, t.Columns, row),
		Mark(t.Name, t.Key, k, false),
	}, t, k, nil
}

// DeleteMutations are the mutations of a delete and its tombstone.
func (w *Writer) DeleteMutations(table string, key spanner.Key) ([]*spanner.Mutation, error) {
	m, _, _, err := w.deleteMutations(table, key)
	return m, err
}

func (w *Writer) deleteMutations(table string, key spanner.Key) ([]*spanner.Mutation, *Table, spanner.Key, error) {
	t, err := w.table(table)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(key) != len(t.Key) {
		return nil, nil, nil, fmt.Errorf("livewrite: %s: key has %d values, the table's key %d columns", table, len(key), len(t.Key))
	}
	key = target.NormalKey(key)
	if w.prot.KeyProtected(t.Name) {
		key = append(spanner.Key(nil), key...)
		if err := w.prot.ProtectKey(t.Name, key); err != nil {
			return nil, nil, nil, fmt.Errorf("livewrite: %w", err)
		}
	}
	return []*spanner.Mutation{
		spanner.Delete(t.Name, key),
		Mark(t.Name, t.Key, key, true),
	}, t, key, nil
}

// Upsert writes a full row (values in Table.Columns order) and its live
// mark in one commit. Idempotent: retry it until it succeeds.
func (w *Writer) Upsert(ctx context.Context, table string, row []any) error {
	m, t, k, err := w.upsertMutations(table, row)
	if err != nil {
		return err
	}
	return w.apply(ctx, t, k, m)
}

// Delete removes a row and leaves its tombstone in one commit. Deleting an
// absent key still writes the tombstone. Idempotent: retry until success.
func (w *Writer) Delete(ctx context.Context, table string, key spanner.Key) error {
	m, t, k, err := w.deleteMutations(table, key)
	if err != nil {
		return err
	}
	return w.apply(ctx, t, k, m)
}

// apply commits m after reading the key's shadow row in the same
// transaction. The read locks the key's mark, and it makes the client begin
// the transaction inline: a mutation-only commit begins explicitly, which
// on multiplexed sessions hangs or loses writes on the emulator under
// concurrency (cloud-spanner-emulator#282).
func (w *Writer) apply(ctx context.Context, t *Table, k spanner.Key, m []*spanner.Mutation) error {
	_, err := target.ReadWrite(ctx, w.client, func(ctx context.Context, txn *spanner.ReadWriteTransaction) error {
		if _, err := txn.ReadRow(ctx, ShadowTable(t.Name), k, []string{ColDeleted}); err != nil && spanner.ErrCode(err) != codes.NotFound {
			return err
		}
		return txn.BufferWrite(m)
	})
	return err
}
