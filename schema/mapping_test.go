package schema

import (
	"reflect"
	"strings"
	"testing"
)

func col(dt, ct string, mods ...func(*Column)) Column {
	c := Column{Name: "c", DataType: dt, ColumnType: ct, Nullable: true}
	if strings.Contains(ct, "unsigned") {
		c.Unsigned = true
	}
	for _, m := range mods {
		m(&c)
	}
	return c
}

func withLen(n int64) func(*Column)       { return func(c *Column) { c.CharMaxLen = n } }
func withPS(p, s int) func(*Column)       { return func(c *Column) { c.Precision, c.Scale = p, s } }
func withCharset(cs string) func(*Column) { return func(c *Column) { c.Charset = cs } }
func asJSON(c *Column)                    { c.JSON = true }

// TestMapEveryType is the mapping table, one row per MySQL type.
func TestMapEveryType(t *testing.T) {
	cases := []struct {
		c      Column
		o      Options
		kind   Kind
		typ    string
		selExp string
	}{
		{col("tinyint", "tinyint(1)"), Options{}, KindBool, "BOOL", ""},
		{col("tinyint", "tinyint(1) unsigned"), Options{}, KindInt64, "INT64", ""},
		{col("tinyint", "tinyint(4)"), Options{}, KindInt64, "INT64", ""},
		{col("tinyint", "tinyint(3) unsigned"), Options{}, KindInt64, "INT64", ""},
		{col("smallint", "smallint(6)"), Options{}, KindInt64, "INT64", ""},
		{col("mediumint", "mediumint(8) unsigned"), Options{}, KindInt64, "INT64", ""},
		{col("int", "int(10) unsigned"), Options{}, KindInt64, "INT64", ""},
		{col("bigint", "bigint(20)"), Options{}, KindInt64, "INT64", ""},
		{col("bigint", "bigint(20) unsigned"), Options{}, KindUint64Numeric, "NUMERIC", ""},
		{col("bigint", "bigint(20) unsigned"), Options{UnsignedBigintAsString: true}, KindUint64String, "STRING(20)", ""},
		{col("decimal", "decimal(10,2)", withPS(10, 2)), Options{}, KindNumeric, "NUMERIC", ""},
		{col("decimal", "decimal(38,9)", withPS(38, 9)), Options{}, KindNumeric, "NUMERIC", ""},
		{col("decimal", "decimal(39,9)", withPS(39, 9)), Options{}, KindDecimalString, "STRING(MAX)", ""},
		{col("decimal", "decimal(20,10)", withPS(20, 10)), Options{}, KindDecimalString, "STRING(MAX)", ""},
		{col("decimal", "decimal(65,30)", withPS(65, 30)), Options{}, KindDecimalString, "STRING(MAX)", ""},
		{col("float", "float"), Options{}, KindFloat32, "FLOAT32", ""},
		{col("double", "double"), Options{}, KindFloat64, "FLOAT64", ""},
		{col("bit", "bit(1)"), Options{}, KindBitBool, "BOOL", ""},
		{col("bit", "bit(5)"), Options{}, KindBitBytes, "BYTES(1)", ""},
		{col("bit", "bit(64)"), Options{}, KindBitBytes, "BYTES(8)", ""},
		{col("bit", "bit(64)"), Options{BitAsInt64: true}, KindBitInt64, "INT64", ""},
		{col("char", "char(10)", withLen(10)), Options{}, KindString, "STRING(10)", ""},
		{col("varchar", "varchar(255)", withLen(255)), Options{}, KindString, "STRING(255)", ""},
		{col("varchar", "varchar(20)", withLen(20), withCharset("latin1")), Options{}, KindString, "STRING(20)", ""},
		{col("varchar", "varchar(16)", withLen(16), withCharset("binary")), Options{}, KindBytes, "BYTES(16)", ""},
		{col("tinytext", "tinytext", withLen(255)), Options{}, KindString, "STRING(MAX)", ""},
		{col("text", "text", withLen(65535)), Options{}, KindString, "STRING(MAX)", ""},
		{col("mediumtext", "mediumtext"), Options{}, KindString, "STRING(MAX)", ""},
		{col("longtext", "longtext"), Options{}, KindString, "STRING(MAX)", ""},
		{col("longtext", "longtext", asJSON), Options{}, KindJSON, "JSON", ""},
		{col("json", "json"), Options{}, KindJSON, "JSON", ""},
		{col("enum", "enum('','small','large')", withLen(5)), Options{}, KindString, "STRING(5)", ""},
		{col("set", "set('','a','b')", withLen(4)), Options{}, KindSetArray, "ARRAY<STRING(MAX)>", "CONCAT(`c`+0, ',', `c`)"},
		{col("set", "set('','a','b')", withLen(4)), Options{SetAsString: true}, KindString, "STRING(4)", ""},
		{col("binary", "binary(4)", withLen(4)), Options{}, KindBytes, "BYTES(4)", ""},
		{col("varbinary", "varbinary(16)", withLen(16)), Options{}, KindBytes, "BYTES(16)", ""},
		{col("tinyblob", "tinyblob"), Options{}, KindBytes, "BYTES(MAX)", ""},
		{col("blob", "blob"), Options{}, KindBytes, "BYTES(MAX)", ""},
		{col("mediumblob", "mediumblob"), Options{}, KindBytes, "BYTES(MAX)", ""},
		{col("longblob", "longblob"), Options{}, KindBytes, "BYTES(MAX)", ""},
		{col("date", "date"), Options{}, KindDate, "DATE", ""},
		{col("datetime", "datetime(6)"), Options{}, KindDatetime, "TIMESTAMP", ""},
		{col("timestamp", "timestamp(6)"), Options{}, KindTimestamp, "TIMESTAMP", ""},
		{col("time", "time(6)"), Options{}, KindString, "STRING(17)", ""},
		{col("year", "year(4)"), Options{}, KindYear, "INT64", ""},
		{col("geometry", "geometry"), Options{}, KindString, "STRING(MAX)", "ST_AsText(`c`)"},
		{col("point", "point"), Options{}, KindString, "STRING(MAX)", "ST_AsText(`c`)"},
		{col("multipolygon", "multipolygon"), Options{}, KindString, "STRING(MAX)", "ST_AsText(`c`)"},
		{col("varchar", "varchar(255)", withLen(255)), Options{PII: true}, KindString, "BYTES(MAX)", ""},
		// Overrides.
		{col("decimal", "decimal(65,30)", withPS(65, 30)), Options{Override: "NUMERIC"}, KindNumeric, "NUMERIC", ""},
		{col("bigint", "bigint(20) unsigned"), Options{Override: "INT64"}, KindInt64, "INT64", ""},
		{col("varbinary", "varbinary(64)", withLen(64)), Options{Override: "STRING(MAX)"}, KindTextString, "STRING(MAX)", ""},
		{col("int", "int(11)"), Options{Override: "string(max)"}, KindTextString, "STRING(MAX)", ""},
		{col("set", "set('a')"), Options{Override: "STRING(MAX)"}, KindTextString, "STRING(MAX)", "`c`"},
		{col("point", "point"), Options{Override: "STRING(100)"}, KindString, "STRING(100)", "ST_AsText(`c`)"},
		{col("tinyint", "tinyint(1)"), Options{Override: "INT64"}, KindInt64, "INT64", ""},
		{col("float", "float"), Options{Override: "FLOAT64"}, KindFloat64, "FLOAT64", ""},
		{col("bit", "bit(8)"), Options{Override: "INT64"}, KindBitInt64, "INT64", ""},
		{col("longtext", "longtext"), Options{Override: "JSON"}, KindJSON, "JSON", ""},
	}
	for _, c := range cases {
		m, err := Map(c.c, c.o)
		if err != nil {
			t.Errorf("%s %+v: %v", c.c.ColumnType, c.o, err)
			continue
		}
		sel := c.selExp
		if sel == "" {
			sel = "`c`"
		}
		if m.Kind != c.kind || m.SpannerType != c.typ || m.Select != sel {
			t.Errorf("%s %+v: got kind %d %s select %s, want kind %d %s select %s", c.c.ColumnType, c.o, m.Kind, m.SpannerType, m.Select, c.kind, c.typ, sel)
		}
	}
}

func TestMapRejects(t *testing.T) {
	cases := []struct {
		c  Column
		ov string
	}{
		{col("int", "int(11)"), "BYTES(MAX)"},
		{col("varchar", "varchar(5)", withLen(5)), "INT64"},
		{col("bit", "bit(8)"), "STRING(MAX)"},
		{col("decimal", "decimal(10,2)", withPS(10, 2)), "FLOAT64"},
		{col("int", "int(11)"), "VARCHAR(10)"},
		{col("double", "double"), "FLOAT32"},
	}
	for _, c := range cases {
		if m, err := Map(c.c, Options{Override: c.ov}); err == nil {
			t.Errorf("%s → %s accepted as %+v", c.c.ColumnType, c.ov, m)
		}
	}
	if _, err := Map(col("vector", "vector(3)"), Options{}); err == nil || !strings.Contains(err.Error(), "exclude the column") {
		t.Errorf("unknown type: %v", err)
	}
}

func TestEnumMembers(t *testing.T) {
	cases := map[string][]string{
		"set('','a','b')":                    {"", "a", "b"},
		"enum('it''s','x y')":                {"it's", "x y"},
		"set('a')":                           {"a"},
		`enum('back\\slash','q')`:            {`back\slash`, "q"},
		"enum('(',')')":                      {"(", ")"},
		"set('Red','Dark Blue','Ünï','a,b')": {"Red", "Dark Blue", "Ünï", "a,b"},
		"SET('X','y')":                       {"X", "y"},
		`enum('''','\\\\','a''''b')`:         {"'", `\\`, "a''b"},
		"enum()":                             nil,
	}
	for in, want := range cases {
		if got := EnumMembers(in); !reflect.DeepEqual(got, want) {
			t.Errorf("EnumMembers(%s) = %q, want %q", in, got, want)
		}
	}
}
