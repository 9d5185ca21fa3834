package schema_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/schema"
)

// TestIntrospect reads the type zoo's tables from the real MariaDB and
// checks every kind of fact the mapping and the DDL rely on.
func TestIntrospect(t *testing.T) {
	e := testenv.New(t)
	ddl, err := os.ReadFile(filepath.Join(e.Root, "testdata", "typezoo", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	e.Exec(t, string(ddl), "CREATE TABLE defs (id INT NOT NULL PRIMARY KEY, s VARCHAR(5) DEFAULT 'x', n INT DEFAULT 7, ts TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP, nothing INT, mail VARCHAR(9) COMMENT 'customer''s e-mail, ü')",
		// Names and defaults keep their case; index kinds and DESC parts are seen.
		`CREATE TABLE MiXed (Id INT NOT NULL PRIMARY KEY, Colour VARCHAR(20) DEFAULT 'Dark Blue', Body TEXT, Geo POINT NOT NULL, Ref INT,
			KEY IdX_Colour_Desc (Colour DESC, Id), FULLTEXT KEY Ft_Body (Body), SPATIAL KEY Sp_Geo (Geo),
			CONSTRAINT Fk_MiXed_Self FOREIGN KEY (Ref) REFERENCES MiXed (Id))`,
		"CREATE VIEW MiXed_View AS SELECT Id FROM MiXed")
	ctx := testenv.Context(t)
	get := func(name string) *schema.Table {
		tb, err := schema.Introspect(ctx, e.MySQL, e.Name, name)
		if err != nil {
			t.Fatal(err)
		}
		return tb
	}
	zoo := get("typezoo")
	if !reflect.DeepEqual(zoo.PrimaryKey, []string{"id"}) || len(zoo.Columns) != 51 {
		t.Fatalf("typezoo: pk %v, %d columns", zoo.PrimaryKey, len(zoo.Columns))
	}
	c := func(tb *schema.Table, n string) *schema.Column {
		cc, ok := tb.Column(n)
		if !ok {
			t.Fatalf("%s.%s missing", tb.Name, n)
		}
		return cc
	}
	if j := c(zoo, "t_json"); !j.JSON || j.DataType != "longtext" {
		t.Errorf("MariaDB JSON column not recognised: %+v", j)
	}
	if l := c(zoo, "t_latin1"); l.Charset != "latin1" || l.Collation != "latin1_swedish_ci" || l.CharMaxLen != 20 {
		t.Errorf("latin1 column: %+v", l)
	}
	if g := c(zoo, "t_gen"); !g.Generated || !strings.Contains(g.Expression, "t_small") {
		t.Errorf("generated column: %+v", g)
	}
	if u := c(zoo, "t_big_u"); !u.Unsigned || u.Nullable != true {
		t.Errorf("unsigned: %+v", u)
	}
	if d := c(zoo, "t_dec"); d.Precision != 38 || d.Scale != 9 {
		t.Errorf("decimal: %+v", d)
	}
	if ts := c(zoo, "t_timestamp"); ts.DatetimePrecision != 6 {
		t.Errorf("timestamp(6): %+v", ts)
	}
	if id := c(zoo, "id"); id.Nullable {
		t.Errorf("id nullable")
	}
	ix := map[string]schema.Index{}
	for _, i := range zoo.Indexes {
		ix[i.Name] = i
	}
	if u := ix["uq_zoo_char"]; !u.Unique || !u.Nullable || !reflect.DeepEqual(u.Columns, []string{"t_char"}) {
		t.Errorf("uq_zoo_char: %+v", u)
	}
	if s := ix["idx_zoo_varchar"]; s.Unique || !reflect.DeepEqual(s.Columns, []string{"t_varchar"}) {
		t.Errorf("idx_zoo_varchar: %+v", s)
	}

	parent := get("zoo_parent")
	if !parent.AutoIncrement || !c(parent, "id").AutoIncrement {
		t.Errorf("AUTO_INCREMENT not seen: %+v", parent)
	}
	pix := map[string]schema.Index{}
	for _, i := range parent.Indexes {
		pix[i.Name] = i
	}
	if u := pix["uq_parent_code"]; !u.Unique || u.Nullable {
		t.Errorf("uq_parent_code: %+v", u)
	}

	child := get("zoo_child")
	want := []schema.ForeignKey{{Name: "fk_child_parent", Columns: []string{"parent_id"}, RefTable: "zoo_parent", RefColumns: []string{"id"}, OnDelete: "CASCADE", OnUpdate: "RESTRICT"}}
	if !reflect.DeepEqual(child.ForeignKeys, want) {
		t.Errorf("foreign keys: %+v", child.ForeignKeys)
	}
	if !reflect.DeepEqual(child.PrimaryKey, []string{"parent_id", "seq"}) {
		t.Errorf("composite pk: %v", child.PrimaryKey)
	}

	defs := get("defs")
	for name, want := range map[string]string{"s": "'x'", "n": "7", "ts": "current_timestamp()"} {
		if d := c(defs, name).Default; d == nil || *d != want {
			t.Errorf("default of %s: %v, want %s", name, d, want)
		}
	}
	if d := c(defs, "nothing").Default; d != nil && *d != "NULL" {
		t.Errorf("default of nothing: %v", *d)
	}
	if cm := c(defs, "mail").Comment; cm != "customer's e-mail, ü" {
		t.Errorf("comment of mail: %q", cm)
	}
	if cm := c(defs, "n").Comment; cm != "" {
		t.Errorf("comment of n: %q", cm)
	}

	mixed := get("MiXed")
	if d := c(mixed, "Colour").Default; d == nil || *d != "'Dark Blue'" {
		t.Errorf("mixed-case default: %v", d)
	}
	mix := map[string]schema.Index{}
	for _, i := range mixed.Indexes {
		mix[i.Name] = i
	}
	if ix := mix["IdX_Colour_Desc"]; !reflect.DeepEqual(ix.Columns, []string{"Colour", "Id"}) || !reflect.DeepEqual(ix.Desc, []bool{true, false}) || ix.Type != "BTREE" {
		t.Errorf("descending index: %+v (all: %+v)", ix, mixed.Indexes)
	}
	if !mix["Ft_Body"].Fulltext() || !mix["Sp_Geo"].Spatial() {
		t.Errorf("FULLTEXT/SPATIAL kinds: %+v", mixed.Indexes)
	}
	if len(mixed.ForeignKeys) != 1 || mixed.ForeignKeys[0].Name != "Fk_MiXed_Self" || mixed.ForeignKeys[0].RefTable != "MiXed" {
		t.Errorf("foreign key names: %+v", mixed.ForeignKeys)
	}
	if _, err := schema.Introspect(ctx, e.MySQL, e.Name, "MiXed_View"); err == nil || !strings.Contains(err.Error(), "is a view, not a base table") {
		t.Errorf("view: %v", err)
	}

	if _, err := schema.Introspect(ctx, e.MySQL, e.Name, "nosuch"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing table: %v", err)
	}
}
