package chunking_test

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/copier"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/source"
)

// explain runs EXPLAIN on q with its arguments bound (as the Reader binds
// them) and returns the access type and key of the first plan row.
func explain(t *testing.T, db *sql.DB, q string, args []any) (typ, key string) {
	t.Helper()
	rows, err := db.Query("EXPLAIN "+q, args...)
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		t.Fatalf("EXPLAIN %s: no plan", q)
	}
	vals := make([]sql.NullString, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	if err := rows.Scan(dest...); err != nil {
		t.Fatal(err)
	}
	for i, c := range cols {
		switch strings.ToLower(c) {
		case "type":
			typ = vals[i].String
		case "key":
			key = vals[i].String
		}
	}
	return typ, key
}

// TestPageQueriesUseKeyRange: the Reader's page queries, the planner's
// walk queries and verify's key lookups are range scans on the key index,
// for single and composite keys, for a chunk with both bounds, with and
// without a page cursor.
func TestPageQueriesUseKeyRange(t *testing.T) {
	e := testenv.New(t)
	db := open(t, e)
	ctx := testenv.Context(t)
	e.Exec(t,
		"CREATE TABLE single (id BIGINT NOT NULL PRIMARY KEY, v VARCHAR(40), KEY by_v (v))",
		"INSERT INTO single SELECT seq, CONCAT('v', seq) FROM seq_1_to_20000",
		"CREATE TABLE comp (a INT NOT NULL, b VARCHAR(20) COLLATE utf8mb4_unicode_ci NOT NULL, c BIGINT NOT NULL, v INT, PRIMARY KEY (a, b, c), KEY by_v (v))",
		"INSERT INTO comp SELECT seq DIV 100, CONCAT('k', seq % 100), seq % 7, seq FROM seq_1_to_20000",
		"CREATE TABLE uk (v INT, code VARCHAR(12) NOT NULL, UNIQUE KEY by_code (code))",
		"INSERT INTO uk SELECT seq, CONCAT('c', seq) FROM seq_1_to_20000")
	for _, tc := range []struct {
		table, index string
		key          []string
	}{{"single", "PRIMARY", nil}, {"comp", "PRIMARY", nil}, {"uk", "by_code", []string{"code"}}} {
		t.Run(tc.table, func(t *testing.T) {
			p := tablePlan(t, e, db, tc.table, tc.key...)
			chunks, err := chunking.Plan(ctx, &source.Querier{DB: db}, p, chunking.Options{TargetRows: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(chunks) < 10 {
				t.Fatalf("%d chunks", len(chunks))
			}
			mid := chunks[len(chunks)/2]
			// keyAt is the i-th key of a chunk, read with the real Reader.
			r := copier.NewReader(&source.Querier{DB: db}, p, 100, nil)
			keyAt := func(c chunking.Chunk, i int) chunking.Key {
				var k chunking.Key
				n := 0
				if _, err := r.Read(ctx, c, func(row *copier.Row) error {
					if n == i {
						k = row.Key
					}
					n++
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if k == nil {
					t.Fatalf("chunk %s has fewer than %d rows", c, i+1)
				}
				return k
			}
			for name, c := range map[string]struct {
				chunk  chunking.Chunk
				cursor chunking.Key
			}{
				"both bounds":              {mid, nil},
				"both bounds, with cursor": {mid, keyAt(mid, 100)},
				"first chunk, with cursor": {chunks[0], keyAt(chunks[0], 10)},
				"last chunk":               {chunks[len(chunks)-1], nil},
			} {
				q, args, err := r.PageQuery(c.chunk, c.cursor)
				if err != nil {
					t.Fatal(err)
				}
				if typ, key := explain(t, db, q, args); typ != "range" || key != tc.index {
					t.Errorf("%s: page query is type=%s key=%s, want range on %s\n%s", name, typ, key, tc.index, q)
				}
			}
			q, args := chunking.BoundaryQuery(p, decode(t, mid.Lower), 1000)
			if typ, key := explain(t, db, q, args); typ != "range" || key != tc.index {
				t.Errorf("planner walk query is type=%s key=%s, want range on %s\n%s", typ, key, tc.index, q)
			}
			// verify's lookup of exact keys (IN) is a range scan too.
			var inArgs []any
			for _, i := range []int{1, 50, 99} {
				inArgs = append(inArgs, keyAt(mid, i)...)
			}
			kc := chunking.KeyColumns(p)
			q = chunking.InQuery(p, kc, chunking.KeyList(kc), 3)
			if typ, key := explain(t, db, q, inArgs); typ != "range" || key != tc.index {
				t.Errorf("key lookup (IN) is type=%s key=%s, want range on %s\n%s", typ, key, tc.index, q)
			}
			q, args = chunking.BoundaryQuery(p, nil, 1000)
			if typ, key := explain(t, db, q, args); typ != "index" || key != tc.index {
				t.Errorf("first planner walk query is type=%s key=%s, want an index walk on %s\n%s", typ, key, tc.index, q)
			}
		})
	}
}

func decode(t *testing.T, b []byte) chunking.Key {
	t.Helper()
	k, err := chunking.DecodeKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
