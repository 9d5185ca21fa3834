package schema

import (
	"fmt"
	"os"
	"strings"
)

// compareInterleave: a planned interleave the table lacks (or has with
// another parent or ON DELETE) is blocking, because Spanner cannot
// interleave an existing table: it must be recreated. An interleave Spanner
// has and the plan does not is compatible: the backfill reads it from the
// target and copies the parent first.
func compareInterleave(p *TablePlan, st *SpannerTable, add func(Finding)) {
	want, have := p.Interleave, st.Parent
	show := func(parent, onDelete string) string {
		if parent == "" {
			return "not interleaved"
		}
		return "INTERLEAVE IN PARENT " + parent + " ON DELETE " + onDelete
	}
	f := Finding{Table: p.Target, What: "interleave", Spanner: show(st.Parent, st.OnDelete)}
	switch {
	case want == nil && have == "":
		return
	case want == nil:
		f.Class, f.Planned = Compatible, "not interleaved"
		f.Detail = fmt.Sprintf("interleaved in %s in Spanner: the backfill copies %s first and dead-letters a row whose parent row is missing", have, have)
	case have == "":
		f.Class, f.What, f.Planned = Blocking, "missing-interleave", show(want.ParentTarget, want.OnDelete)
		f.Detail = fmt.Sprintf("planned INTERLEAVE IN PARENT %s but the Spanner table is not interleaved; Spanner cannot interleave an existing table: drop it and recreate it with `plan --apply` (with the same --interleave / interleave_in), or plan without the interleave", want.ParentTarget)
	case !strings.EqualFold(have, want.ParentTarget) || !strings.EqualFold(st.OnDelete, want.OnDelete):
		f.Class, f.Planned = Blocking, show(want.ParentTarget, want.OnDelete)
		f.Detail = "interleaved differently in Spanner (parent or ON DELETE): deleting a parent row would not do what MySQL does; recreate the table or change the plan"
	default:
		f.Class, f.Planned = Compatible, show(want.ParentTarget, want.OnDelete)
	}
	add(f)
}

func sameIndex(a TargetIndex, b SpannerIndex) bool {
	return EqualFoldList(a.Columns, b.Columns) && anyTrue(a.Desc) == anyTrue(b.Desc) && descEqual(a.Desc, b.Desc, len(a.Columns)) &&
		a.Unique == b.Unique && a.NullFiltered == b.NullFiltered && a.Search == b.Search
}

func descEqual(a, b []bool, n int) bool {
	for i := 0; i < n; i++ {
		if (i < len(a) && a[i]) != (i < len(b) && b[i]) {
			return false
		}
	}
	return true
}

func showIndex(ix SpannerIndex) string {
	return TargetIndex{Name: ix.Name, Columns: ix.Columns, Desc: ix.Desc, Unique: ix.Unique, NullFiltered: ix.NullFiltered, Search: ix.Search}.describe()
}

// describe is an index's definition without its name and table:
// "UNIQUE NULL_FILTERED (a, b DESC)".
func (ix TargetIndex) describe() string {
	var kind []string
	switch {
	case ix.Search:
		kind = append(kind, "SEARCH")
	case ix.Unique:
		kind = append(kind, "UNIQUE")
	}
	if ix.NullFiltered {
		kind = append(kind, "NULL_FILTERED")
	}
	cols := make([]string, len(ix.Columns))
	for i, c := range ix.Columns {
		cols[i] = c
		if i < len(ix.Desc) && ix.Desc[i] {
			cols[i] += " DESC"
		}
	}
	return strings.TrimSpace(strings.Join(kind, " ") + " (" + strings.Join(cols, ", ") + ")")
}

// compareIndexes: a planned index Spanner lacks is lossy (the backfill
// writes every row; queries that used it scan, and a unique key is not
// enforced). An index that differs is blocking when the Spanner one is
// stricter (unique where MySQL is not, or on other columns, or not
// NULL_FILTERED where MySQL admits many NULLs: rows MySQL holds would fail
// their commit), lossy otherwise. An extra unique index is blocking for
// the same reason; an extra plain index is compatible.
func compareIndexes(p *TablePlan, tt TableTarget, st *SpannerTable, add func(Finding)) {
	used := map[string]bool{}
	find := func(want TargetIndex) *SpannerIndex {
		for i := range st.Indexes {
			if strings.EqualFold(st.Indexes[i].Name, want.Name) {
				return &st.Indexes[i]
			}
		}
		for i := range st.Indexes { // the same index under another name
			if !used[strings.ToLower(st.Indexes[i].Name)] && sameIndex(want, st.Indexes[i]) {
				return &st.Indexes[i]
			}
		}
		return nil
	}
	for _, want := range tt.Indexes {
		f := Finding{Table: p.Target, Object: want.Name, What: "index", MySQL: want.Source, Planned: want.describe()}
		have := find(want)
		if have == nil {
			f.Class, f.What = Lossy, "missing-index"
			f.Detail = "Spanner lacks this index: the backfill writes every row, but queries that used it in MySQL scan instead"
			if want.Unique {
				f.Detail += ", and Spanner does not enforce the uniqueness MySQL does"
			}
			f.Detail += "; create it: " + want.SQL()
			add(f)
			continue
		}
		used[strings.ToLower(have.Name)] = true
		f.Spanner = showIndex(*have)
		switch {
		case sameIndex(want, *have):
			f.Class = Compatible
			if !strings.EqualFold(have.Name, want.Name) {
				f.Detail = "the same index under the name " + have.Name
			}
		case have.Unique && (!want.Unique || !EqualFoldList(want.Columns, have.Columns)), have.Unique && !have.NullFiltered && want.NullFiltered:
			f.Class = Blocking
			f.Detail = "the Spanner index is stricter than MySQL's (unique where MySQL is not, or unique over NULLs MySQL admits many of): rows MySQL holds would fail their commit; recreate it as planned"
		default:
			f.Class = Lossy
			f.Detail = "the Spanner index differs (columns, order, uniqueness or NULL_FILTERED): it does not serve or enforce what MySQL's does; recreate it as planned: " + want.SQL()
		}
		add(f)
	}
	for _, have := range st.Indexes {
		if used[strings.ToLower(have.Name)] {
			continue
		}
		f := Finding{Table: p.Target, Object: have.Name, What: "extra-index", Class: Compatible, Spanner: showIndex(have), Detail: "not in MySQL; left alone"}
		if have.Unique {
			f.Class, f.Detail = Blocking, "a unique index MySQL does not have: rows MySQL holds could fail their commit; drop it, or make sure the data is unique"
		}
		add(f)
	}
}

// emulatorDeleteRule: the emulator reports every foreign key's DELETE_RULE
// as NO ACTION (checked against cloud-spanner-emulator's gateway), so on it
// an ON DELETE difference cannot be seen.
func emulatorDeleteRule() bool { return os.Getenv("SPANNER_EMULATOR_HOST") != "" }

// compareFKs: a planned foreign key Spanner lacks is compatible in defer
// mode (it is added after the backfill), lossy otherwise; one that
// references other columns or another table, or has another ON DELETE, is
// blocking (writes or deletes would not do what MySQL does); an extra
// foreign key is blocking (Spanner enforces it on every backfill write).
func compareFKs(p *TablePlan, tt TableTarget, st *SpannerTable, o DDLOptions, add func(Finding)) {
	used := map[string]bool{}
	show := func(cols []string, ref string, refCols []string, onDelete string) string {
		return fmt.Sprintf("(%s) → %s (%s) ON DELETE %s", strings.Join(cols, ", "), ref, strings.Join(refCols, ", "), onDelete)
	}
	for _, want := range tt.FKs {
		f := Finding{Table: p.Target, Object: want.Name, What: "foreign-key", MySQL: want.Source,
			Planned: show(want.Columns, want.RefTable, want.RefColumns, want.OnDelete)}
		var have *SpannerFK
		for i := range st.FKs {
			if strings.EqualFold(st.FKs[i].Name, want.Name) ||
				(!used[strings.ToLower(st.FKs[i].Name)] && EqualFoldList(st.FKs[i].Columns, want.Columns) && strings.EqualFold(st.FKs[i].RefTable, want.RefTable)) {
				have = &st.FKs[i]
				break
			}
		}
		if have == nil {
			f.What = "missing-foreign-key"
			if o.ForeignKeys == "" || o.ForeignKeys == FKDefer {
				f.Class, f.Detail = Compatible, "not in Spanner yet: deferred, add it after the backfill with `plan --apply --foreign-keys=only`"
			} else {
				f.Class, f.Detail = Lossy, "Spanner lacks this foreign key: the backfill writes every row, but Spanner will not enforce it; add it with `plan --apply --foreign-keys=only`"
			}
			add(f)
			continue
		}
		used[strings.ToLower(have.Name)] = true
		f.Spanner = show(have.Columns, have.RefTable, have.RefColumns, have.OnDelete)
		sameRef := EqualFoldList(have.Columns, want.Columns) && strings.EqualFold(have.RefTable, want.RefTable) && EqualFoldList(have.RefColumns, want.RefColumns)
		sameDelete := strings.EqualFold(have.OnDelete, want.OnDelete)
		switch {
		case !sameRef:
			f.Class, f.Detail = Blocking, "the Spanner foreign key references other columns or another table: rows MySQL holds could fail their commit; drop it and add the planned one after the backfill"
		case !sameDelete && emulatorDeleteRule() && strings.EqualFold(have.OnDelete, "NO ACTION"):
			f.Class, f.Detail = Compatible, "ON DELETE not compared: the emulator reports every foreign key as NO ACTION"
		case !sameDelete:
			f.Class, f.Detail = Blocking, "ON DELETE differs: deleting a parent row would not do what MySQL does; drop the foreign key and add the planned one"
		default:
			f.Class = Compatible
			if o.ForeignKeys == "" || o.ForeignKeys == FKDefer {
				f.Detail = "already in Spanner: it is enforced on every write, so a child row the backfill copies before its parent fails; add foreign keys after the backfill"
			}
		}
		add(f)
	}
	for _, have := range st.FKs {
		if used[strings.ToLower(have.Name)] {
			continue
		}
		add(Finding{Table: p.Target, Object: have.Name, What: "extra-foreign-key", Class: Blocking,
			Spanner: show(have.Columns, have.RefTable, have.RefColumns, have.OnDelete),
			Detail:  "not in MySQL: Spanner enforces it on every backfill write, so rows MySQL holds could fail their commit; drop it (or add it after the backfill)"})
	}
}
