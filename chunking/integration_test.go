package chunking_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/copier"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/ratelimit"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/source"
	"github.com/livemigrate/livemigrate/spec"
)

// open returns a source pool opened the way workers open it.
func open(t *testing.T, e *testenv.Env) *sql.DB {
	t.Helper()
	db, err := source.Open(testenv.Context(t), e.Spec().Source)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// tablePlan introspects a live table; key names a unique key ("" = PK).
func tablePlan(t *testing.T, e *testenv.Env, db *sql.DB, table string, key ...string) *schema.TablePlan {
	t.Helper()
	ctx := testenv.Context(t)
	e.Exec(t, "ANALYZE TABLE "+schema.QuoteIdent(table))
	st, err := schema.Introspect(ctx, db, e.Name, table)
	if err != nil {
		t.Fatal(err)
	}
	p, err := config.BuildPlan(spec.Table{Source: table, Key: key}, spec.Defaults{}, st)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// allKeys returns every key of the table as MySQL returns it, encoded.
func allKeys(t *testing.T, db *sql.DB, p *schema.TablePlan) map[string]bool {
	t.Helper()
	cols := chunking.KeyColumns(p)
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = schema.QuoteIdent(c.Name)
	}
	// Prepared, so values arrive in the binary protocol like the Reader's.
	stmt, err := db.Prepare("SELECT " + strings.Join(names, ", ") + " FROM " + schema.QuoteIdent(p.Source))
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	rows, err := stmt.Query()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		k := make(chunking.Key, len(cols))
		dest := make([]any, len(k))
		for i := range k {
			dest[i] = &k[i]
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		enc := string(chunking.EncodeKey(chunking.NormalizeKey(cols, k)))
		if out[enc] {
			t.Fatalf("table %s: two rows share key %x", p.Source, enc)
		}
		out[enc] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkCover reads every chunk with the real Reader and proves the chunks
// cover the table's keys exactly once; it returns the rows read per chunk.
func checkCover(t *testing.T, db *sql.DB, p *schema.TablePlan, chunks []chunking.Chunk, pageRows int) []int64 {
	t.Helper()
	ctx := testenv.Context(t)
	want := allKeys(t, db, p)
	seen := map[string]int{}
	perChunk := make([]int64, len(chunks))
	for i, c := range chunks {
		if c.ID != i || c.Of != len(chunks) || c.Table != p.Source {
			t.Fatalf("chunk %d is %s", i, c)
		}
		if (i == 0) != (c.Lower == nil) || (i == len(chunks)-1) != (c.Upper == nil) {
			t.Fatalf("chunk %s: only the first chunk may lack a lower bound and only the last an upper bound", c)
		}
		if i > 0 && string(chunks[i-1].Upper) != string(c.Lower) {
			t.Fatalf("chunk %s does not start where chunk %d ends", c, i-1)
		}
		r := copier.NewReader(&source.Querier{DB: db}, p, pageRows, nil)
		st, err := r.Read(ctx, c, func(row *copier.Row) error {
			key := row.Key
			enc := string(chunking.EncodeKey(key))
			if prev, dup := seen[enc]; dup {
				return fmt.Errorf("key %s read by chunk %d and chunk %d", chunking.FormatKey(key), prev, c.ID)
			}
			seen[enc] = c.ID
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		perChunk[i] = st.Rows
	}
	for k := range want {
		if _, ok := seen[k]; !ok {
			kk, _ := chunking.DecodeKey([]byte(k))
			t.Fatalf("table %s: key %s read by no chunk", p.Source, chunking.FormatKey(kk))
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("table %s: chunks read %d keys, table has %d", p.Source, len(seen), len(want))
	}
	return perChunk
}

// shape is one kind of generated table.
type shape struct {
	name string
	ddl  string
	key  []string // unique key to chunk by; nil = PK
	// fill inserts about n rows drawn from r.
	fill func(t *testing.T, db *sql.DB, r *rand.Rand, n int)
}

// insert runs INSERT IGNORE in batches; values are bound, never inlined.
func insert(t *testing.T, db *sql.DB, table string, ncols int, rows [][]any) {
	t.Helper()
	ph := "(" + strings.TrimSuffix(strings.Repeat("?,", ncols), ",") + ")"
	for len(rows) > 0 {
		b := rows[:min(500, len(rows))]
		rows = rows[len(b):]
		var args []any
		for _, r := range b {
			args = append(args, r...)
		}
		q := "INSERT IGNORE INTO " + table + " VALUES " + strings.TrimSuffix(strings.Repeat(ph+",", len(b)), ",")
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
	}
}

// collided asserts that, for a big enough sample, the collation merged
// byte-distinct keys (case, accents, trailing spaces): the generator really
// exercises keys MySQL calls equal while Go's bytes differ.
func collided(t *testing.T, db *sql.DB, table string, rows [][]any, key ...int) {
	t.Helper()
	distinct := map[string]bool{}
	for _, r := range rows {
		k := ""
		for _, i := range key {
			k += fmt.Sprint(r[i]) + "\x00"
		}
		distinct[k] = true
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if len(rows) >= 200 && n >= len(distinct) {
		t.Fatalf("%s: %d byte-distinct keys became %d rows: no collation collisions generated", table, len(distinct), n)
	}
}

// Letters that collide under utf8mb4_unicode_ci: case, accents, and the
// trailing space PAD SPACE ignores.
var ciAlphabet = []string{"a", "A", "á", "Á", "à", "e", "E", "é", "É", "o", "Ö", "ø", "ß", "ss", "z", "Z", "-", "_", " ", "1"}

func ciString(r *rand.Rand) string {
	var b strings.Builder
	for n := 1 + r.IntN(4); n > 0; n-- {
		b.WriteString(ciAlphabet[r.IntN(len(ciAlphabet))])
	}
	if r.IntN(4) == 0 {
		b.WriteString(strings.Repeat(" ", 1+r.IntN(2)))
	}
	return b.String()
}

func randBytes(r *rand.Rand) []byte {
	b := make([]byte, 1+r.IntN(6))
	for i := range b {
		switch r.IntN(4) {
		case 0:
			b[i] = 0
		case 1:
			b[i] = 0xff
		default:
			b[i] = byte(r.IntN(256))
		}
	}
	return b
}

var shapes = []shape{
	{name: "int", ddl: "CREATE TABLE int_t (id BIGINT NOT NULL PRIMARY KEY, v INT)",
		fill: func(t *testing.T, db *sql.DB, r *rand.Rand, n int) {
			var rows [][]any
			for i := 0; i < n; i++ {
				rows = append(rows, []any{r.Int64N(1<<40) - 1<<39, i})
			}
			insert(t, db, "int_t", 2, rows)
		}},
	{name: "composite", ddl: "CREATE TABLE comp_t (a INT NOT NULL, b VARCHAR(20) COLLATE utf8mb4_unicode_ci NOT NULL, v INT, PRIMARY KEY (a, b))",
		fill: func(t *testing.T, db *sql.DB, r *rand.Rand, n int) {
			var rows [][]any
			for i := 0; i < n; i++ {
				rows = append(rows, []any{r.IntN(n/20 + 2), ciString(r), i})
			}
			insert(t, db, "comp_t", 3, rows)
			collided(t, db, "comp_t", rows, 0, 1)
		}},
	{name: "varchar_ci_ai", ddl: "CREATE TABLE ci_t (k VARCHAR(40) COLLATE utf8mb4_unicode_ci NOT NULL PRIMARY KEY, v INT)",
		fill: func(t *testing.T, db *sql.DB, r *rand.Rand, n int) {
			var rows [][]any
			for i := 0; i < n; i++ {
				rows = append(rows, []any{ciString(r), i})
			}
			insert(t, db, "ci_t", 2, rows)
			collided(t, db, "ci_t", rows, 0)
		}},
	{name: "varchar_latin1", ddl: "CREATE TABLE l1_t (k VARCHAR(40) CHARACTER SET latin1 COLLATE latin1_swedish_ci NOT NULL PRIMARY KEY, v INT)",
		fill: func(t *testing.T, db *sql.DB, r *rand.Rand, n int) {
			var rows [][]any
			for i := 0; i < n; i++ {
				rows = append(rows, []any{strings.NewReplacer("ø", "å", "ß", "ä").Replace(ciString(r)), i})
			}
			insert(t, db, "l1_t", 2, rows)
		}},
	{name: "varbinary", ddl: "CREATE TABLE bin_t (k VARBINARY(16) NOT NULL PRIMARY KEY, v INT)",
		fill: func(t *testing.T, db *sql.DB, r *rand.Rand, n int) {
			var rows [][]any
			for i := 0; i < n; i++ {
				rows = append(rows, []any{randBytes(r), i})
			}
			insert(t, db, "bin_t", 2, rows)
		}},
	{name: "uuid_binary16", ddl: "CREATE TABLE uuid_t (id BINARY(16) NOT NULL PRIMARY KEY, v INT)",
		fill: func(t *testing.T, db *sql.DB, r *rand.Rand, n int) {
			var rows [][]any
			for i := 0; i < n; i++ {
				b := make([]byte, 16)
				for j := range b {
					b[j] = byte(r.IntN(256))
				}
				rows = append(rows, []any{b, i})
			}
			insert(t, db, "uuid_t", 2, rows)
		}},
	{name: "datetime", ddl: "CREATE TABLE dt_t (at DATETIME(6) NOT NULL, d DATE NOT NULL, v INT, PRIMARY KEY (d, at))",
		fill: func(t *testing.T, db *sql.DB, r *rand.Rand, n int) {
			var rows [][]any
			for i := 0; i < n; i++ {
				sec := r.Int64N(3 * 365 * 86400)
				at := fmt.Sprintf("2020-01-01 00:00:00.%06d", r.IntN(1000000))
				rows = append(rows, []any{at, fmt.Sprintf("%d", sec), i})
			}
			// Bind the offsets and let MySQL compute the values.
			for i := range rows {
				rows[i] = []any{rows[i][0], rows[i][1], rows[i][1], rows[i][2]}
			}
			ph := "(? + INTERVAL ? SECOND, DATE('2020-01-01') + INTERVAL (? DIV 86400) DAY, ?)"
			for len(rows) > 0 {
				b := rows[:min(500, len(rows))]
				rows = rows[len(b):]
				var args []any
				for _, x := range b {
					args = append(args, x...)
				}
				q := "INSERT IGNORE INTO dt_t VALUES " + strings.TrimSuffix(strings.Repeat(ph+",", len(b)), ",")
				if _, err := db.Exec(q, args...); err != nil {
					t.Fatal(err)
				}
			}
		}},
	{name: "unique_key", key: []string{"code"}, ddl: "CREATE TABLE uk_t (v INT, code VARCHAR(12) COLLATE utf8mb4_general_ci NOT NULL, UNIQUE KEY by_code (code))",
		fill: func(t *testing.T, db *sql.DB, r *rand.Rand, n int) {
			var rows [][]any
			for i := 0; i < n; i++ {
				rows = append(rows, []any{i, ciString(r)})
			}
			insert(t, db, "uk_t", 2, rows)
		}},
	{name: "bit", ddl: "CREATE TABLE bit_t (b BIT(12) NOT NULL, n TINYINT NOT NULL, v INT, PRIMARY KEY (b, n))",
		fill: func(t *testing.T, db *sql.DB, r *rand.Rand, n int) {
			var rows [][]any
			for i := 0; i < n; i++ {
				rows = append(rows, []any{r.IntN(4096), r.IntN(3), i})
			}
			insert(t, db, "bit_t", 3, rows)
		}},
	{name: "decimal_time", ddl: "CREATE TABLE dec_t (d DECIMAL(12,3) NOT NULL, tm TIME(2) NOT NULL, v INT, PRIMARY KEY (d, tm))",
		fill: func(t *testing.T, db *sql.DB, r *rand.Rand, n int) {
			var rows [][]any
			for i := 0; i < n; i++ {
				d := fmt.Sprintf("%d.%03d", r.IntN(200)-100, r.IntN(1000))
				tm := fmt.Sprintf("%02d:%02d:%02d.%02d", r.IntN(100), r.IntN(60), r.IntN(60), r.IntN(100))
				if r.IntN(2) == 0 {
					tm = "-" + tm
				}
				rows = append(rows, []any{d, tm, i})
			}
			insert(t, db, "dec_t", 3, rows)
		}},
	{name: "double", ddl: "CREATE TABLE dbl_t (x DOUBLE NOT NULL PRIMARY KEY, v INT)",
		fill: func(t *testing.T, db *sql.DB, r *rand.Rand, n int) {
			var rows [][]any
			for i := 0; i < n; i++ {
				rows = append(rows, []any{r.NormFloat64() * 1e6, i})
			}
			insert(t, db, "dbl_t", 2, rows)
		}},
	{name: "skewed_int", ddl: "CREATE TABLE skew_t (id INT UNSIGNED NOT NULL PRIMARY KEY, v INT)",
		fill: func(t *testing.T, db *sql.DB, r *rand.Rand, n int) {
			var rows [][]any
			for i := 0; i < n; i++ {
				id := r.Uint32N(4_000_000_000)
				if i%10 != 0 { // 90 % of the rows in 1 % of the range
					id = 2_000_000_000 + r.Uint32N(40_000_000)
				}
				rows = append(rows, []any{id, i})
			}
			insert(t, db, "skew_t", 2, rows)
		}},
}

// TestPlanCoversEveryRowOnce is the planner's property: for generated
// tables of every key shape, sizes from empty to a few thousand rows and
// random chunk and page sizes, reading every chunk with the real Reader
// yields every key of the table exactly once, and every chunk but the last
// holds exactly the planned number of rows.
func TestPlanCoversEveryRowOnce(t *testing.T) {
	e := testenv.New(t)
	db := open(t, e)
	ctx := testenv.Context(t)
	for _, seed := range []uint64{0, 1, 2, 3, 4} {
		for _, sh := range shapes {
			t.Run(fmt.Sprintf("%s/seed%d", sh.name, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 0x5eed))
				table := strings.Fields(sh.ddl)[2]
				e.Exec(t, "DROP TABLE IF EXISTS "+table, sh.ddl)
				sizes := []int{0, 1, 2 + r.IntN(5), 200 + r.IntN(2800)}
				n := sizes[int(seed)%len(sizes)]
				if seed == 4 {
					n = 3000
				}
				sh.fill(t, db, r, n)
				p := tablePlan(t, e, db, table, sh.key...)
				target := 1 + r.IntN(max(1, n/5))
				if r.IntN(3) == 0 {
					target = 1 + r.IntN(20)
				}
				chunks, err := chunking.Plan(ctx, &source.Querier{DB: db}, p, chunking.Options{TargetRows: target})
				if err != nil {
					t.Fatal(err)
				}
				got := checkCover(t, db, p, chunks, 1+r.IntN(50))
				var total int64
				for i, c := range chunks {
					total += got[i]
					if got[i] != c.Rows {
						t.Errorf("chunk %s: planned %d rows, read %d", c, c.Rows, got[i])
					}
					if i < len(chunks)-1 && c.Rows != int64(target) {
						t.Errorf("chunk %s: %d rows, want the target %d", c, c.Rows, target)
					}
				}
				if rows := int64(len(allKeys(t, db, p))); total != rows {
					t.Fatalf("read %d rows, table has %d", total, rows)
				}
				if len(chunks) > 1 && chunks[len(chunks)-1].Rows > int64(target)+int64(target)/4 {
					t.Fatalf("last chunk %d rows, target %d", chunks[len(chunks)-1].Rows, target)
				}
				t.Logf("%d rows, target %d → %d chunks", total, target, len(chunks))
			})
		}
	}
}

// TestPlanSkew: 90 % of the rows in 1 % of the key range; the largest
// chunk must hold at most twice the target.
func TestPlanSkew(t *testing.T) {
	e := testenv.New(t)
	db := open(t, e)
	ctx := testenv.Context(t)
	e.Exec(t, "CREATE TABLE skew (id BIGINT NOT NULL PRIMARY KEY, v INT)",
		// 10,000 rows spread over [1e5, 1e9] ...
		"INSERT INTO skew SELECT seq * 100000, seq FROM seq_1_to_10000",
		// ... 90,000 in [5e8, 5e8 + 1e7): 1 % of the range.
		"INSERT IGNORE INTO skew SELECT 500000000 + seq * 111, seq FROM seq_1_to_90000")
	p := tablePlan(t, e, db, "skew")
	const target = 5000
	chunks, err := chunking.Plan(ctx, &source.Querier{DB: db}, p, chunking.Options{TargetRows: target})
	if err != nil {
		t.Fatal(err)
	}
	got := checkCover(t, db, p, chunks, 2000)
	var largest, total int64
	for _, n := range got {
		largest = max(largest, n)
		total += n
	}
	if total != 100000 {
		t.Fatalf("read %d rows", total)
	}
	if largest > 2*target {
		t.Fatalf("largest chunk %d rows > 2 × target %d", largest, target)
	}
	t.Logf("%d chunks, largest %d rows (target %d)", len(chunks), largest, target)
}

// TestPlanByteCap: AVG_ROW_LENGTH × rows stays under MaxBytes.
func TestPlanByteCap(t *testing.T) {
	e := testenv.New(t)
	db := open(t, e)
	e.Exec(t, "CREATE TABLE fat (id INT NOT NULL PRIMARY KEY, body VARCHAR(2000))",
		"INSERT INTO fat SELECT seq, REPEAT('x', 1500) FROM seq_1_to_3000")
	p := tablePlan(t, e, db, "fat")
	if p.Table.AvgRowLength < 1000 {
		t.Fatalf("AVG_ROW_LENGTH %d: statistics not refreshed", p.Table.AvgRowLength)
	}
	o := chunking.Options{TargetRows: 10000, MaxBytes: 400_000}
	chunks, err := chunking.Plan(testenv.Context(t), &source.Querier{DB: db}, p, o)
	if err != nil {
		t.Fatal(err)
	}
	n := o.RowsPerChunk(p.Table.AvgRowLength)
	if int64(n)*p.Table.AvgRowLength > o.MaxBytes || n < 100 {
		t.Fatalf("rows per chunk %d × %d bytes breaks the cap %d", n, p.Table.AvgRowLength, o.MaxBytes)
	}
	if len(chunks) < 3000/n {
		t.Fatalf("%d chunks for 3000 rows of %d per chunk", len(chunks), n)
	}
	checkCover(t, db, p, chunks, 500)
}

// TestPlanRefusesEnumKey: MySQL orders ENUM by ordinal but compares it as
// text, so keyset chunking over it would skip or repeat rows.
func TestPlanRefusesEnumKey(t *testing.T) {
	e := testenv.New(t)
	db := open(t, e)
	e.Exec(t, "CREATE TABLE en (k ENUM('zebra','apple') NOT NULL PRIMARY KEY)", "INSERT INTO en VALUES ('zebra'), ('apple')")
	p := tablePlan(t, e, db, "en")
	_, err := chunking.Plan(testenv.Context(t), &source.Querier{DB: db}, p, chunking.Options{TargetRows: 1})
	if err == nil || !strings.Contains(err.Error(), "ENUM") {
		t.Fatalf("got %v, want an error naming the ENUM key", err)
	}
}

// countingGate counts the planning queries that pass it.
type countingGate struct{ plans atomic.Int64 }

func (g *countingGate) Acquire(ctx context.Context, kind ratelimit.Kind, _ int) (func(int), error) {
	if kind == ratelimit.Plan {
		g.plans.Add(1)
	}
	return func(int) {}, ctx.Err()
}

// TestPlanDenseIntegerKeys: a one-column integer key that fills its range
// is planned from MIN and MAX alone (one query instead of a walk over the
// whole index), for signed, negative and unsigned 64-bit ranges; every
// chunk spans the target's width, so none holds more than the target, the
// chunks still cover every row once, and the planned rows estimate what
// each chunk reads. A sparse key, or a table whose statistics know no rows,
// keeps the exact walk.
func TestPlanDenseIntegerKeys(t *testing.T) {
	e := testenv.New(t)
	db := open(t, e)
	ctx := testenv.Context(t)
	const target = 1000
	for _, c := range []struct {
		name, ddl, fill string
		dense           bool
	}{
		{"auto_increment with gaps", "BIGINT NOT NULL AUTO_INCREMENT", "INSERT INTO %s (v) SELECT seq FROM seq_1_to_12000", true},
		{"negative to positive", "INT NOT NULL", "INSERT INTO %s SELECT CAST(seq AS SIGNED) - 6000, seq FROM seq_1_to_12000", true},
		{"unsigned above int64", "BIGINT UNSIGNED NOT NULL", "INSERT INTO %s SELECT 18446744073709539615 + seq, seq FROM seq_1_to_12000", true},
		{"unsigned across int64's max", "BIGINT UNSIGNED NOT NULL", "INSERT INTO %s SELECT 9223372036854769807 + seq, seq FROM seq_1_to_12000", true},
		{"small signed type", "SMALLINT NOT NULL", "INSERT INTO %s SELECT CAST(seq AS SIGNED) - 32768, seq FROM seq_0_to_11999", true},
		{"sparse", "BIGINT NOT NULL", "INSERT INTO %s SELECT seq * 10, seq FROM seq_1_to_12000", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			table := "d" + strings.NewReplacer(" ", "_", "'", "").Replace(c.name)
			e.Exec(t, fmt.Sprintf("CREATE TABLE %s (id %s PRIMARY KEY, v INT)", table, c.ddl), fmt.Sprintf(c.fill, table))
			if c.name == "auto_increment with gaps" {
				e.Exec(t, "DELETE FROM "+table+" WHERE id % 50 = 7")
			}
			p := tablePlan(t, e, db, table)
			g := &countingGate{}
			chunks, err := chunking.Plan(ctx, &source.Querier{DB: db, Gate: g}, p, chunking.Options{TargetRows: target})
			if err != nil {
				t.Fatal(err)
			}
			got := checkCover(t, db, p, chunks, 300)
			var total, planned int64
			for i, n := range got {
				total += n
				planned += chunks[i].Rows
				if c.dense && n > target+target/4 {
					t.Errorf("chunk %s read %d rows, more than its width allows (%d)", chunks[i], n, target+target/4)
				}
			}
			rows := int64(len(allKeys(t, db, p)))
			if total != rows {
				t.Fatalf("read %d rows, table has %d", total, rows)
			}
			if dense := g.plans.Load() == 1; dense != c.dense {
				t.Fatalf("%d planning queries (statistics: %d rows); want the dense plan: %v", g.plans.Load(), p.Table.EstimatedRows, c.dense)
			}
			if c.dense && (len(chunks) < 10 || len(chunks) > 13 || float64(planned) < 0.5*float64(rows) || float64(planned) > 2*float64(rows)) {
				t.Errorf("%d chunks planning %d rows for %d rows of target %d", len(chunks), planned, rows, target)
			}
			// Statistics far above the truth still give a covering plan of
			// chunks no wider than the target; none at all give the walk.
			for _, est := range []int64{rows * 40, 0} {
				p.Table.EstimatedRows = est
				g := &countingGate{}
				chunks, err := chunking.Plan(ctx, &source.Querier{DB: db, Gate: g}, p, chunking.Options{TargetRows: target})
				if err != nil {
					t.Fatal(err)
				}
				checkCover(t, db, p, chunks, 300)
				if est == 0 && g.plans.Load() == 1 && len(chunks) > 1 {
					t.Errorf("no statistics: planned by arithmetic")
				}
			}
		})
	}
}
