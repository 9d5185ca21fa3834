package main

import (
	"fmt"
	"math/bits"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/api/iterator"

	"github.com/livemigrate/livemigrate/internal/testenv"
)

// enumSetRunes are the characters random ENUM/SET members are made of:
// both cases, spaces, SQL quoting's special characters, Latin accents,
// CJK and a character outside the BMP. Commas only in ENUM members (MySQL
// refuses them in SET members).
var enumSetRunes = []rune("aAbBzZ09 _%'\\éÉÖößçÇ中文😀")

func randomMember(r *rand.Rand, enum bool) string {
	var b strings.Builder
	if r.Intn(6) == 0 {
		b.WriteByte(' ') // leading spaces are kept
	}
	for n := 1 + r.Intn(6); n > 0; n-- {
		b.WriteRune(enumSetRunes[r.Intn(len(enumSetRunes))])
	}
	if enum && r.Intn(8) == 0 {
		b.WriteString(",x")
	}
	if r.Intn(5) == 0 {
		b.WriteString("  ") // trailing spaces: MySQL trims them in the definition
	}
	return b.String()
}

// sqlQuote renders s as a MySQL string literal.
func sqlQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// TestEnumSetRoundTrip is a property test: random ENUM and SET columns
// (random member lists in mixed case, with spaces, quotes, backslashes,
// non-ASCII, an occasional empty member, under a case-insensitive or a
// binary collation) and random values go through plan --apply and a
// backfill; every Spanner value must equal what MySQL itself returns. The
// expected SET members come from MySQL (a table LIKE the source holding
// each single-member value), never from the generator or the converter.
// LM_SEED reproduces a run.
func TestEnumSetRoundTrip(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("LM_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (rerun with LM_SEED=%d)", seed, seed)
	r := rand.New(rand.NewSource(seed))
	e := testenv.New(t)
	e.Exec(t, "CREATE TABLE es (id INT NOT NULL PRIMARY KEY) CHARACTER SET utf8mb4")

	type column struct {
		name    string
		enum    bool
		members int
	}
	var cols []column
	for i := 0; i < 8; i++ {
		c := column{name: fmt.Sprintf("c%d", i), enum: i%2 == 0}
		collate := []string{"utf8mb4_general_ci", "utf8mb4_bin", "utf8mb4_unicode_ci"}[r.Intn(3)]
		// A definition MySQL refuses (members equal under the collation)
		// is drawn again.
		for attempt := 0; ; attempt++ {
			n := 1 + r.Intn(10)
			var ms []string
			for j := 0; j < n; j++ {
				if r.Intn(12) == 0 {
					ms = append(ms, "")
				} else {
					ms = append(ms, randomMember(r, c.enum))
				}
			}
			quoted := make([]string, len(ms))
			for j, m := range ms {
				quoted[j] = sqlQuote(m)
			}
			kind := "SET"
			if c.enum {
				kind = "ENUM"
			}
			def := fmt.Sprintf("ALTER TABLE es ADD COLUMN %s %s(%s) CHARACTER SET utf8mb4 COLLATE %s NULL", c.name, kind, strings.Join(quoted, ","), collate)
			if _, err := e.MySQL.Exec(def); err == nil {
				c.members = n
				break
			} else if attempt > 50 {
				t.Fatalf("no accepted definition after 50 draws: %v\n%s", err, def)
			}
		}
		cols = append(cols, c)
	}

	// Random rows; values are written by index (ENUM) and bitmask (SET),
	// so no value text passes through our quoting.
	const rows = 60
	var ins strings.Builder
	ins.WriteString("SET SESSION sql_mode = ''; INSERT INTO es VALUES ")
	for id := 1; id <= rows; id++ {
		if id > 1 {
			ins.WriteString(",")
		}
		fmt.Fprintf(&ins, "(%d", id)
		for _, c := range cols {
			switch {
			case r.Intn(10) == 0:
				ins.WriteString(",NULL")
			case c.enum:
				fmt.Fprintf(&ins, ",%d", r.Intn(c.members+1)) // 0 is MySQL's invalid-value entry ''
			default:
				fmt.Fprintf(&ins, ",%d", r.Uint64()&(1<<uint(c.members)-1))
			}
		}
		ins.WriteString(")")
	}
	e.Exec(t, ins.String())

	// MySQL's own text of every SET member: member j alone is row j.
	e.Exec(t, "CREATE TABLE es_members LIKE es")
	for j := 0; j < 10; j++ {
		var vals []string
		for _, c := range cols {
			if !c.enum && j < c.members {
				vals = append(vals, fmt.Sprintf("%s = %d", c.name, uint64(1)<<uint(j)))
			}
		}
		e.Exec(t, fmt.Sprintf("INSERT INTO es_members SET id = %d", j))
		if len(vals) > 0 {
			e.Exec(t, fmt.Sprintf("UPDATE es_members SET %s WHERE id = %d", strings.Join(vals, ", "), j))
		}
	}
	members := map[string][]string{}
	for _, c := range cols {
		if c.enum {
			continue
		}
		mr, err := e.MySQL.Query(fmt.Sprintf("SELECT %s, %s+0 FROM es_members WHERE id < %d ORDER BY id", c.name, c.name, c.members))
		if err != nil {
			t.Fatal(err)
		}
		for mr.Next() {
			var text []byte
			var mask uint64
			if err := mr.Scan(&text, &mask); err != nil {
				t.Fatal(err)
			}
			members[c.name] = append(members[c.name], string(text))
		}
		mr.Close()
	}

	specPath := e.SpecYAML(t, "  - source: es\n")
	if out, errOut, code := runCLI(t, nil, "plan", "--spec", specPath, "--apply"); code != 0 {
		t.Fatalf("plan --apply: exit %d\n%s\n%s", code, out, errOut)
	}
	report := filepath.Join(t.TempDir(), "report.json")
	if out, errOut, code := runCLI(t, nil, "backfill", "--spec", specPath, "--report-json", report,
		"--dead-letter", filepath.Join(t.TempDir(), "dl")); code != 0 {
		t.Fatalf("backfill: exit %d\n%s\n%s", code, out, errOut)
	}
	if rep := readReport(t, report); rep.Tables[0].RowsWritten != rows || rep.Tables[0].RowsDead != 0 {
		t.Fatalf("report: %+v", rep.Tables[0])
	}

	names := []string{"id"}
	sel := []string{"id"}
	for _, c := range cols {
		names = append(names, c.name)
		sel = append(sel, c.name, c.name+"+0")
	}
	mysqlRows, err := e.MySQL.Query("SELECT " + strings.Join(sel, ", ") + " FROM es ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer mysqlRows.Close()
	ctx := testenv.Context(t)
	client, err := spanner.NewClient(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	it := client.Single().Read(ctx, "es", spanner.AllKeys(), names)
	defer it.Stop()
	for mysqlRows.Next() {
		dest := make([]any, 1+2*len(cols))
		var id int64
		dest[0] = &id
		texts := make([][]byte, len(cols))
		masks := make([]*uint64, len(cols))
		for i := range cols {
			dest[1+2*i] = &texts[i]
			dest[2+2*i] = &masks[i]
		}
		if err := mysqlRows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		row, err := it.Next()
		if err != nil {
			t.Fatalf("Spanner row for id %d: %v", id, err)
		}
		for i, c := range cols {
			if c.enum {
				var got spanner.NullString
				if err := row.Column(1+i, &got); err != nil {
					t.Fatal(err)
				}
				if got.Valid != (texts[i] != nil) || got.StringVal != string(texts[i]) {
					t.Errorf("id %d %s (ENUM): Spanner %q (valid %v), MySQL %q", id, c.name, got.StringVal, got.Valid, texts[i])
				}
				continue
			}
			var got []string
			if err := row.Column(1+i, &got); err != nil {
				t.Fatal(err)
			}
			if masks[i] == nil {
				if got != nil {
					t.Errorf("id %d %s (SET): Spanner %q, MySQL NULL", id, c.name, got)
				}
				continue
			}
			want := []string{}
			for j := 0; j < c.members; j++ {
				if *masks[i]&(1<<uint(j)) != 0 {
					want = append(want, members[c.name][j])
				}
			}
			if len(want) != bits.OnesCount64(*masks[i]) || strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
				t.Errorf("id %d %s (SET): Spanner %q, MySQL %q (text %q)", id, c.name, got, want, texts[i])
			}
		}
	}
	if _, err := it.Next(); err != iterator.Done {
		t.Fatalf("Spanner has more rows than MySQL: %v", err)
	}
}
