package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/api/iterator"

	"github.com/livemigrate/livemigrate/copier"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/transforms"
)

// loadObjects creates testdata/objects (FULLTEXT, SPATIAL, a trigger, a
// view, routines, an event, an interleavable pair) in a fresh env and
// writes its spec.
func loadObjects(t *testing.T) (*testenv.Env, string) { return loadFixture(t, "objects") }

// TestObjectsPlanAndBackfill runs the sample schema through the real CLI:
// the plan's decisions (FULLTEXT and SPATIAL not created, the TEXT prefix
// index flagged for Spanner's key limit, ON UPDATE CASCADE warned once per
// constraint, the interleave the spec asks for, every trigger, view,
// routine and event listed as not migrated), each warning text printed
// once, a view named in the spec refused, then --fulltext=search applied
// to the emulator, a backfill whose rows all equal the source (but the
// zero-date parent and its interleaved children, dead-lettered with their
// reasons), parents planned only after their copy finished, and a delta
// with nothing to report.
func TestObjectsPlanAndBackfill(t *testing.T) {
	e, specPath := loadObjects(t)

	out, errOut, code := runCLI(t, nil, "plan", "--spec", specPath, "--ddl", "--json")
	if code != 0 {
		t.Fatalf("plan --json: exit %d\n%s\n%s", code, out, errOut)
	}
	var d schema.DDL
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, out)
	}
	got := map[string][]string{}
	for _, w := range d.Warnings {
		got[w.Code] = append(got[w.Code], w.Subject())
	}
	for code := range got {
		sort.Strings(got[code])
	}
	want := map[string][]string{
		schema.WAutoIncrementHotspot: {"film.film_id", "store.store_id"},
		schema.WFulltextIndex:        {"film.idx_title_description"},
		schema.WSpatialIndex:         {"store.idx_location"},
		schema.WFKOnUpdate:           {"rental.fk_rental_store", "rental_line.fk_line_film", "rental_line.fk_line_rental"},
		schema.WIndexPrefix:          {"note.idx_body"},
		schema.WIndexKeySize:         {"note.idx_body"},
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("warnings by code:\n got %s\nwant %s", gotJSON, wantJSON)
	}
	var objs []string
	for _, o := range d.NotMigrated {
		s := o.Kind + " " + o.Name
		if o.Table != "" {
			s += " on " + o.Table
		}
		if o.InSpec {
			s += " (in spec)"
		}
		objs = append(objs, s)
	}
	if g := strings.Join(objs, "; "); g != "trigger ins_film on film (in spec); view film_list; function film_count; procedure rentals_of; event purge_notes" {
		t.Errorf("not migrated: %s", g)
	}
	for _, s := range d.Statements {
		if s.Kind == "index" && (strings.Contains(s.SQL, "idx_title_description") || strings.Contains(s.SQL, "idx_location")) {
			t.Errorf("FULLTEXT/SPATIAL index created by default: %s", s.SQL)
		}
		if s.Kind == "foreign-key" && s.Name == "fk_line_rental" {
			t.Errorf("the interleaved foreign key is also created as a constraint: %s", s.SQL)
		}
		if s.Kind == "table" && s.Table == "rental_line" && !strings.HasSuffix(s.SQL, ") PRIMARY KEY (`rental_id`, `line_no`),\n  INTERLEAVE IN PARENT `rental` ON DELETE CASCADE") {
			t.Errorf("rental_line is not interleaved in rental:\n%s", s.SQL)
		}
	}

	// The text script prints each warning's explanation once.
	out, errOut, code = runCLI(t, nil, "plan", "--spec", specPath, "--ddl")
	if code != 0 {
		t.Fatalf("plan --ddl: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, w := range d.Warnings {
		if n := strings.Count(out+errOut, w.Message); n != 1 {
			t.Errorf("[%s] explanation printed %d times", w.Code, n)
		}
	}
	if !strings.Contains(out, "-- NOT MIGRATED: 5 objects") || !strings.Contains(out, "--   ins_film on film (AFTER INSERT) — fires on a table this spec copies") {
		t.Errorf("not-migrated block missing:\n%s", out)
	}

	// A view named in the spec is bad input.
	viewSpec := e.SpecYAML(t, "  - source: film_list\n")
	if _, errOut, code := runCLI(t, nil, "plan", "--spec", viewSpec); code != 2 || !strings.Contains(errOut, `"film_list" in MySQL database`) || !strings.Contains(errOut, "is a view, not a base table") {
		t.Errorf("view in the spec: exit %d\n%s", code, errOut)
	}

	// FULLTEXT as Spanner full-text search, applied to the emulator.
	if out, errOut, code := runCLI(t, nil, "plan", "--spec", specPath, "--apply", "--fulltext=search"); code != 0 ||
		!strings.Contains(errOut, "[fulltext-search-index]") {
		t.Fatalf("plan --apply --fulltext=search: exit %d\n%s\n%s", code, out, errOut)
	}
	dir := t.TempDir()
	report := filepath.Join(dir, "report.json")
	out, errOut, code = runCLI(t, nil, "backfill", "--spec", specPath, "--chunk-rows", "10", "--report-json", report,
		"--dead-letter", filepath.Join(dir, "dl"))
	if code != 0 {
		t.Fatalf("backfill: exit %d\n%s\n%s", code, out, errOut)
	}
	rep := readReport(t, report)
	for _, tr := range rep.Tables {
		if !tr.Reconciled || !tr.CountsEqual {
			t.Errorf("%s: not reconciled: %+v", tr.Source, tr)
		}
	}
	dls := readDeadLetters(t, filepath.Join(dir, "dl"))
	wantDL := []string{
		"rental (999) rented_at: zero date (year, month or day is 0) has no Spanner equivalent",
		"rental_line (999, 1) : " + copier.ReasonParentMissing,
		"rental_line (999, 2) : " + copier.ReasonParentMissing,
	}
	if strings.Join(dls, "\n") != strings.Join(wantDL, "\n") {
		t.Errorf("dead letters:\n%s\nwant\n%s", strings.Join(dls, "\n"), strings.Join(wantDL, "\n"))
	}

	ctx := testenv.Context(t)
	client, err := spanner.NewClient(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, c := range []struct {
		table, mysql string
		cols         []string
	}{
		{"film", "SELECT film_id, title, description, CAST(release_year AS CHAR), rating, special_features FROM film ORDER BY film_id",
			[]string{"film_id", "title", "description", "release_year", "rating", "special_features"}},
		{"film_text", "SELECT film_id, title, description FROM film_text ORDER BY film_id", []string{"film_id", "title", "description"}},
		{"store", "SELECT store_id, name, ST_AsText(location) FROM store ORDER BY store_id", []string{"store_id", "name", "location"}},
		{"rental", "SELECT rental_id, store_id, customer, DATE_FORMAT(rented_at, '%Y-%m-%dT%H:%i:%sZ') FROM rental WHERE rental_id <> 999 ORDER BY rental_id",
			[]string{"rental_id", "store_id", "customer", "rented_at"}},
		{"rental_line", "SELECT rental_id, line_no, film_id, amount FROM rental_line WHERE rental_id <> 999 ORDER BY rental_id, line_no",
			[]string{"rental_id", "line_no", "film_id", "amount"}},
		{"note", "SELECT id, body FROM note ORDER BY id", []string{"id", "body"}},
	} {
		compareRows(t, e.MySQL, client, c.table, c.mysql, c.cols)
	}

	// Children were planned only after every parent chunk was copied.
	it := client.Single().Query(ctx, spanner.Statement{SQL: `SELECT
		(SELECT MAX(DoneAt) FROM livemigrate_progress WHERE JobId = @j AND TableName = 'rental'),
		(SELECT MIN(PlannedAt) FROM livemigrate_progress WHERE JobId = @j AND TableName = 'rental_line'),
		(SELECT COUNT(*) FROM livemigrate_progress WHERE JobId = @j AND TableName = 'rental')`,
		Params: map[string]any{"j": rep.JobID}})
	row, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	var parentDone, childPlanned time.Time
	var parentChunks int64
	if err := row.Columns(&parentDone, &childPlanned, &parentChunks); err != nil {
		t.Fatal(err)
	}
	it.Stop()
	if parentChunks < 2 || childPlanned.Before(parentDone) {
		t.Errorf("rental_line planned at %v, before the last of %d rental chunks was done at %v", childPlanned, parentChunks, parentDone)
	}

	// The target now is what the plan says: nothing blocks or is lost.
	out, errOut, code = runCLI(t, nil, "plan", "--spec", specPath, "--delta", "--json", "--fulltext=search")
	var delta schema.Delta
	if code != 0 || json.Unmarshal([]byte(out), &delta) != nil || delta.Blocking != 0 || delta.Lossy != 0 {
		t.Errorf("delta after apply: exit %d, %d blocking, %d lossy\n%s\n%s", code, delta.Blocking, delta.Lossy, out, errOut)
	}
}

// readDeadLetters returns "table key column: reason" for every dead letter
// under dir, sorted.
func readDeadLetters(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if line == "" {
				continue
			}
			var d transforms.DeadLetter
			if err := json.Unmarshal([]byte(line), &d); err != nil {
				t.Fatal(err)
			}
			out = append(out, d.Table+" "+d.Key+" "+d.Column+": "+d.Reason)
		}
	}
	sort.Strings(out)
	return out
}

// compareRows compares a table row by row: MySQL renders each value as
// text itself (the query), Spanner's typed values are rendered by
// spannerCell; SET text becomes the JSON list of its members and decimals
// lose trailing zeros on both sides.
func compareRows(t *testing.T, db *sql.DB, client *spanner.Client, table, query string, cols []string) {
	t.Helper()
	ctx := testenv.Context(t)
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	it := client.Single().Read(ctx, table, spanner.AllKeys(), cols)
	defer it.Stop()
	norm := func(col, v string) string {
		switch col {
		case "amount":
			return normDecimal(v)
		}
		return v
	}
	n := 0
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		r, err := it.Next()
		if err != nil {
			t.Fatalf("%s: Spanner has fewer rows than MySQL (%d): %v", table, n, err)
		}
		for i, col := range cols {
			want := "NULL"
			if vals[i].Valid {
				want = vals[i].String
				if col == "special_features" {
					members := []string{}
					if want != "" {
						members = strings.Split(want, ",")
					}
					b, _ := json.Marshal(members)
					want = string(b)
				}
			}
			var g spanner.GenericColumnValue
			if err := r.Column(i, &g); err != nil {
				t.Fatal(err)
			}
			if got := spannerCell(g.Type, g.Value); norm(col, got) != norm(col, want) {
				t.Errorf("%s row %d %s: Spanner %q, MySQL %q", table, n, col, got, want)
			}
		}
		n++
	}
	if _, err := it.Next(); err != iterator.Done {
		t.Errorf("%s: Spanner has more rows than MySQL (%d): %v", table, n, err)
	}
	if n == 0 {
		t.Errorf("%s: no rows compared", table)
	}
}
