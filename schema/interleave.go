package schema

import (
	"fmt"
	"sort"
	"strings"
)

// Interleave makes a table INTERLEAVE IN PARENT: Spanner stores each
// parent row's child rows with it, and refuses a child row whose parent
// row does not exist — so the backfill copies parents first.
type Interleave struct {
	Parent       string `json:"parent"`        // source table
	ParentTarget string `json:"parent_target"` // Spanner table
	OnDelete     string `json:"on_delete"`     // CASCADE or NO ACTION
	// ForeignKey is the MySQL foreign key the interleave stands for (it is
	// not created separately).
	ForeignKey string `json:"foreign_key,omitempty"`
	// ParentKeyLen is how many leading key columns of the table are the
	// parent's key (same names and types, as Spanner requires).
	ParentKeyLen int `json:"parent_key_len"`
}

// Rename is a spec column rename an interleave needs.
type Rename struct {
	Table  string `json:"table"` // source table
	Column string `json:"column"`
	To     string `json:"to"`
}

func (r Rename) String() string {
	return fmt.Sprintf("tables[%s].columns.rename: {%s: %s}", r.Table, yamlKey(r.Column), r.To)
}

// InterleaveCandidate is a child table that could be interleaved in a
// parent: its primary key starts with columns that a foreign key links to
// the parent's whole primary key, with the same Spanner types.
type InterleaveCandidate struct {
	Child      string     `json:"child"`  // source tables
	Parent     string     `json:"parent"` //
	Interleave Interleave `json:"interleave"`
	// Renames are needed first: Spanner requires the child's key to start
	// with the parent's key columns by name.
	Renames []Rename `json:"renames,omitempty"`
}

// InterleaveCandidates finds every (child, parent) pair of the plans that
// could be interleaved, children in plan order, each child's foreign keys
// by name.
func InterleaveCandidates(plans []TablePlan) []InterleaveCandidate {
	byName := map[string]*TablePlan{}
	for i := range plans {
		byName[strings.ToLower(plans[i].Source)] = &plans[i]
	}
	var out []InterleaveCandidate
	for i := range plans {
		c := &plans[i]
		fks := append([]ForeignKey(nil), c.Table.ForeignKeys...)
		sort.SliceStable(fks, func(a, b int) bool { return fks[a].Name < fks[b].Name })
		for _, fk := range fks {
			if p, ok := byName[strings.ToLower(fk.RefTable)]; ok && p != c {
				if cand, why := interleavable(c, p, fk); why == "" {
					out = append(out, cand)
				}
			}
		}
	}
	return out
}

// interleavable checks one foreign key of child c to parent p; why says
// what stops it.
func interleavable(c, p *TablePlan, fk ForeignKey) (InterleaveCandidate, string) {
	cand := InterleaveCandidate{Child: c.Source, Parent: p.Source,
		Interleave: Interleave{Parent: p.Source, ParentTarget: p.Target, OnDelete: "NO ACTION", ForeignKey: fk.Name, ParentKeyLen: len(p.Key)}}
	if strings.EqualFold(fk.OnDelete, "CASCADE") {
		cand.Interleave.OnDelete = "CASCADE"
	}
	pk := p.sourceKey()
	if len(fk.Columns) != len(pk) {
		return cand, fmt.Sprintf("foreign key %s does not reference the whole primary key of %s", fk.Name, p.Source)
	}
	childCols := make([]string, len(pk))
	for i, k := range pk {
		for j, r := range fk.RefColumns {
			if strings.EqualFold(r, k) {
				childCols[i] = fk.Columns[j]
			}
		}
		if childCols[i] == "" {
			return cand, fmt.Sprintf("foreign key %s does not reference the primary key of %s", fk.Name, p.Source)
		}
	}
	ck := c.sourceKey()
	if len(ck) < len(pk) || !EqualFoldList(ck[:len(pk)], childCols) {
		return cand, fmt.Sprintf("the primary key of %s (%s) does not start with the foreign key's columns (%s)", c.Source, strings.Join(ck, ", "), strings.Join(childCols, ", "))
	}
	for i, k := range pk {
		cc, pc := c.col(childCols[i]), p.col(k)
		if normType(cc.Mapping.SpannerType) != normType(pc.Mapping.SpannerType) {
			return cand, fmt.Sprintf("%s.%s is %s but %s.%s is %s", c.Source, cc.Source, cc.Mapping.SpannerType, p.Source, pc.Source, pc.Mapping.SpannerType)
		}
		if cc.Target != pc.Target {
			cand.Renames = append(cand.Renames, renameFor(c, p, cc, pc))
		}
	}
	return cand, ""
}

// renameFor proposes the rename that gives the parent's key column and
// the child's the same name: the parent's key takes the child's (more
// descriptive) name, e.g. orders.id → order_id, unless the parent already
// has a column of that name; then the child's takes the parent's.
func renameFor(c, p *TablePlan, cc, pc *ColumnPlan) Rename {
	if p.targetCol(cc.Target) == nil {
		return Rename{Table: p.Source, Column: pc.Source, To: cc.Target}
	}
	return Rename{Table: c.Source, Column: cc.Source, To: pc.Target}
}

// ResolveInterleave sets Interleave on the plans the spec interleaves
// (tables[].interleave_in) and, with all, on every other child that has a
// candidate needing no rename (the first by foreign-key name, never making
// a cycle). A spec entry that cannot be interleaved is bad input.
func ResolveInterleave(plans []TablePlan, all bool) error {
	byName := map[string]*TablePlan{}
	for i := range plans {
		byName[strings.ToLower(plans[i].Source)] = &plans[i]
	}
	for i := range plans {
		c := &plans[i]
		want := c.Schema.InterleaveIn
		if want == "" {
			continue
		}
		p, ok := byName[strings.ToLower(want)]
		if !ok || p == c {
			return fmt.Errorf("table %q: interleave_in %q is not another table of the spec", c.Source, want)
		}
		var why []string
		found := false
		for _, fk := range c.Table.ForeignKeys {
			if !strings.EqualFold(fk.RefTable, p.Source) {
				continue
			}
			cand, no := interleavable(c, p, fk)
			if no != "" {
				why = append(why, no)
				continue
			}
			if len(cand.Renames) > 0 {
				return fmt.Errorf("table %q: interleave_in %q needs the key columns named as the parent's first: add %s", c.Source, want, renamesText(cand.Renames))
			}
			il := cand.Interleave
			c.Interleave, found = &il, true
			break
		}
		if !found {
			if len(why) == 0 {
				why = append(why, fmt.Sprintf("no foreign key of %s references %s", c.Source, p.Source))
			}
			return fmt.Errorf("table %q cannot be interleaved in %q: %s", c.Source, want, strings.Join(why, "; "))
		}
	}
	if err := interleaveCycle(plans, byName); err != nil {
		return err
	}
	if !all {
		return nil
	}
	for _, cand := range InterleaveCandidates(plans) {
		c := byName[strings.ToLower(cand.Child)]
		if c.Interleave != nil || len(cand.Renames) > 0 {
			continue
		}
		il := cand.Interleave
		c.Interleave = &il
		if interleaveCycle(plans, byName) != nil {
			c.Interleave = nil
		}
	}
	return nil
}

func interleaveCycle(plans []TablePlan, byName map[string]*TablePlan) error {
	for i := range plans {
		seen := map[*TablePlan]bool{}
		for p := &plans[i]; p != nil && p.Interleave != nil; p = byName[strings.ToLower(p.Interleave.Parent)] {
			if seen[p] {
				return fmt.Errorf("table %q: interleave_in makes a cycle", plans[i].Source)
			}
			seen[p] = true
		}
	}
	return nil
}

func renamesText(rs []Rename) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return strings.Join(out, " and ")
}

// interleaveWarnings suggests the candidates not applied.
func interleaveWarnings(plans []TablePlan) []Warning {
	var out []Warning
	done := map[string]bool{}
	for _, p := range plans {
		if p.Interleave != nil {
			done[strings.ToLower(p.Source)] = true
		}
	}
	for _, c := range InterleaveCandidates(plans) {
		if done[strings.ToLower(c.Child)] {
			continue
		}
		done[strings.ToLower(c.Child)] = true
		detail := fmt.Sprintf("in %s (foreign key %s, ON DELETE %s)", c.Parent, c.Interleave.ForeignKey, c.Interleave.OnDelete)
		if len(c.Renames) > 0 {
			out = append(out, newWarning(WInterleaveRename, c.Child, "", "", detail+"; first add "+renamesText(c.Renames)))
			continue
		}
		out = append(out, newWarning(WInterleaveCandidate, c.Child, "", "", detail))
	}
	return out
}

// InterleaveFromTarget sets each plan's Interleave from the existing
// Spanner schema, which is what decides whether Spanner refuses a child row
// without its parent: the backfill then copies planned parents first and
// checks that a child row's parent row exists before writing it. A parent
// outside the spec keeps Parent empty (no ordering, the check still runs).
func InterleaveFromTarget(plans []TablePlan, existing []SpannerTable) {
	byTarget := map[string]*SpannerTable{}
	for i := range existing {
		byTarget[strings.ToLower(existing[i].Name)] = &existing[i]
	}
	for i := range plans {
		p := &plans[i]
		p.Interleave = nil
		st, ok := byTarget[strings.ToLower(p.Target)]
		if !ok || st.Parent == "" {
			continue
		}
		il := &Interleave{ParentTarget: st.Parent, OnDelete: st.OnDelete}
		if parent, ok := byTarget[strings.ToLower(st.Parent)]; ok {
			il.ParentKeyLen = len(parent.PrimaryKey)
		}
		for j := range plans {
			if strings.EqualFold(plans[j].Target, st.Parent) {
				il.Parent = plans[j].Source
			}
		}
		if il.ParentKeyLen > 0 && il.ParentKeyLen <= len(p.Key) {
			p.Interleave = il
		}
	}
}

// Levels orders the plans' source tables for the backfill: level 0 holds
// the tables not interleaved in another planned table, level n+1 the
// tables interleaved in one of level n, so each level can start when the
// previous one is copied.
func Levels(plans []TablePlan) [][]string {
	level := map[string]int{}
	byName := map[string]*TablePlan{}
	for i := range plans {
		byName[strings.ToLower(plans[i].Source)] = &plans[i]
	}
	var depth func(p *TablePlan, n int) int
	depth = func(p *TablePlan, n int) int {
		if p.Interleave == nil || n > len(plans) {
			return 0
		}
		parent, ok := byName[strings.ToLower(p.Interleave.Parent)]
		if !ok {
			return 0
		}
		return 1 + depth(parent, n+1)
	}
	max := 0
	for i := range plans {
		level[plans[i].Source] = depth(&plans[i], 0)
		if level[plans[i].Source] > max {
			max = level[plans[i].Source]
		}
	}
	out := make([][]string, max+1)
	for _, p := range plans {
		out[level[p.Source]] = append(out[level[p.Source]], p.Source)
	}
	return out
}
