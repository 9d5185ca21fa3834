package schema

import (
	"strings"
	"testing"
)

func plan(name string, fks ...ForeignKey) TablePlan {
	c := Column{Name: "id", DataType: "bigint", ColumnType: "bigint(20)"}
	r := Column{Name: "ref", DataType: "bigint", ColumnType: "bigint(20)", Nullable: true}
	m, _ := Map(c, Options{})
	return TablePlan{Source: name, Target: strings.ToUpper(name[:1]) + name[1:], Key: []int{0},
		Cols:  []ColumnPlan{{Source: "id", Target: "id", Column: c, Mapping: m}, {Source: "ref", Target: "ref", Column: r, Mapping: m}},
		Table: Table{Name: name, Columns: []Column{c, r}, PrimaryKey: []string{"id"}, ForeignKeys: fks}}
}

func fk(name, ref, onDelete string) ForeignKey {
	return ForeignKey{Name: name, Columns: []string{"ref"}, RefTable: ref, RefColumns: []string{"id"}, OnDelete: onDelete}
}

// TestGenerateDDLOrder: parents before children whatever the spec order;
// a cycle and a self-reference fall back to ALTER TABLE after the tables.
func TestGenerateDDLOrder(t *testing.T) {
	plans := []TablePlan{
		plan("items", fk("fk_items_orders", "orders", "CASCADE")),
		plan("orders", fk("fk_orders_customers", "customers", "RESTRICT")),
		plan("customers"),
		plan("a", fk("fk_a_b", "b", "")),
		plan("b", fk("fk_b_a", "a", "SET NULL")),
		plan("emp", fk("fk_emp_mgr", "emp", "")),
		plan("x", fk("fk_x_outside", "nowhere", "")),
	}
	d := GenerateDDL(plans, FKInline)
	var tables []string
	for _, s := range d.Statements {
		if s.Kind == "table" {
			tables = append(tables, s.Table)
		}
	}
	if got := strings.Join(tables, ","); got != "customers,orders,items,emp,x,a,b" {
		t.Fatalf("table order %s", got)
	}
	sql := strings.Join(d.SQL(), ";\n")
	for _, want := range []string{
		"CONSTRAINT `fk_items_orders` FOREIGN KEY (`ref`) REFERENCES `Orders` (`id`) ON DELETE CASCADE,\n) PRIMARY KEY",
		"CONSTRAINT `fk_orders_customers` FOREIGN KEY (`ref`) REFERENCES `Customers` (`id`),\n",
		"CONSTRAINT `fk_b_a` FOREIGN KEY (`ref`) REFERENCES `A` (`id`),\n",
		"ALTER TABLE `A` ADD CONSTRAINT `fk_a_b` FOREIGN KEY (`ref`) REFERENCES `B` (`id`)",
		"ALTER TABLE `Emp` ADD CONSTRAINT `fk_emp_mgr`",
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("DDL lacks %q:\n%s", want, sql)
		}
	}
	var warns []string
	for _, w := range d.Warnings {
		warns = append(warns, w.String())
	}
	all := strings.Join(warns, "\n")
	for _, want := range []string{"b.fk_b_a [fk-on-delete-set-null]: ON DELETE SET NULL: ON DELETE SET NULL / SET DEFAULT has no Spanner equivalent", "x.fk_x_outside [fk-parent-not-in-spec]: references nowhere: foreign key skipped"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}

	// defer: no constraint in any CREATE TABLE, every one deferred.
	d = GenerateDDL(plans, FKDefer)
	n := 0
	for _, s := range d.Statements {
		if s.Kind == "table" && strings.Contains(s.SQL, "FOREIGN KEY") {
			t.Errorf("defer mode put a foreign key in %s", s.SQL)
		}
		if s.Kind == "foreign-key" {
			n++
			if !s.Deferred {
				t.Errorf("not deferred: %s", s.SQL)
			}
		}
	}
	if n != 5 {
		t.Errorf("%d foreign keys, want 5", n)
	}
	if only := GenerateDDL(plans, FKOnly); len(only.Statements) != 5 {
		t.Errorf("only mode: %d statements, want 5", len(only.Statements))
	}
}

func TestHotspots(t *testing.T) {
	p := plan("t")
	if len(p.Hotspots()) != 0 {
		t.Fatal("plain key flagged")
	}
	p.Cols[0].Column.AutoIncrement = true
	if w := p.Hotspots(); len(w) != 1 || !strings.Contains(w[0].Message, "bit-reversed sequence") {
		t.Fatalf("AUTO_INCREMENT: %v", w)
	}
	p.Cols[0].Column.AutoIncrement, p.Cols[0].Column.DataType = false, "datetime"
	if w := p.Hotspots(); len(w) != 1 || !strings.Contains(w[0].Message, "time-ordered") {
		t.Fatalf("datetime key: %v", w)
	}
}
