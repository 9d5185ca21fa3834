// Package schema owns what we know about a table on both sides: MySQL
// introspection from information_schema (identifiers, ENUM/SET members and
// defaults kept byte for byte), the one MySQL→Spanner type mapping, the
// Spanner DDL derived from it (indexes, foreign keys, interleaving, with
// every change of meaning a coded warning: lint.go), valid Spanner names
// (names.go), the objects that do not move (objects.go) and the delta
// against an existing Spanner schema.
//
// The one idea: a column is mapped exactly once. The same Mapping value that
// renders a column's Spanner DDL type also converts each of its values, so the
// schema we create and the rows we write can never disagree.
package schema

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Column is one MySQL column as information_schema describes it.
type Column struct {
	Name     string `json:"name"`
	Ordinal  int    `json:"ordinal"`
	DataType string `json:"data_type"` // lower case: bigint, varchar, ...
	// ColumnType is MySQL's full type text exactly as information_schema
	// shows it — bigint(20) unsigned, enum('Red','Dark Blue') — never
	// case-folded: ENUM and SET members keep their case and bytes.
	ColumnType string `json:"column_type"`
	Nullable   bool   `json:"nullable"`
	// CharMaxLen is the declared length in characters (strings) or bytes.
	CharMaxLen        int64   `json:"char_max_len,omitempty"`
	Precision         int     `json:"precision,omitempty"`
	Scale             int     `json:"scale,omitempty"`
	DatetimePrecision int     `json:"datetime_precision,omitempty"`
	Unsigned          bool    `json:"unsigned,omitempty"`
	Charset           string  `json:"charset,omitempty"`
	Collation         string  `json:"collation,omitempty"`
	Default           *string `json:"default,omitempty"`
	Generated         bool    `json:"generated,omitempty"`
	// Expression is a generated column's expression (MySQL SQL).
	Expression    string `json:"expression,omitempty"`
	AutoIncrement bool   `json:"auto_increment,omitempty"`
	// JSON is set for MariaDB JSON columns (LONGTEXT with a json_valid check).
	JSON bool `json:"json,omitempty"`
	// Comment is the column's COMMENT (the PII audit reads it).
	Comment string `json:"comment,omitempty"`
}

// Index is a MySQL index.
type Index struct {
	Name    string   `json:"name"`
	Unique  bool     `json:"unique"`
	Columns []string `json:"columns"`
	// Nullable is true when any key column may hold NULL.
	Nullable bool `json:"nullable,omitempty"`
	// Prefix is true when an index uses a column prefix (not usable as a key).
	Prefix bool `json:"prefix,omitempty"`
	// Type is MySQL's INDEX_TYPE: BTREE, HASH, FULLTEXT or SPATIAL.
	Type string `json:"type,omitempty"`
	// Desc marks the key parts MySQL sorts descending (nil: all ascending).
	Desc []bool `json:"desc,omitempty"`
}

// Fulltext and Spatial report MySQL's special index kinds.
func (ix Index) Fulltext() bool { return strings.EqualFold(ix.Type, "FULLTEXT") }

// Spatial reports a SPATIAL index.
func (ix Index) Spatial() bool { return strings.EqualFold(ix.Type, "SPATIAL") }

// ForeignKey is a MySQL foreign key.
type ForeignKey struct {
	Name       string   `json:"name"`
	Columns    []string `json:"columns"`
	RefTable   string   `json:"ref_table"`
	RefColumns []string `json:"ref_columns"`
	OnDelete   string   `json:"on_delete,omitempty"`
	OnUpdate   string   `json:"on_update,omitempty"`
}

// Table is one MySQL table.
type Table struct {
	Name          string       `json:"name"`
	Columns       []Column     `json:"columns"`
	PrimaryKey    []string     `json:"primary_key"`
	Indexes       []Index      `json:"indexes,omitempty"` // unique and secondary, not the PK
	ForeignKeys   []ForeignKey `json:"foreign_keys,omitempty"`
	AutoIncrement bool         `json:"auto_increment,omitempty"`
	// EstimatedRows and AvgRowLength come from table statistics.
	EstimatedRows int64 `json:"estimated_rows"`
	AvgRowLength  int64 `json:"avg_row_length"`
}

// Column returns the named column (case-insensitive, as MySQL compares names).
func (t *Table) Column(name string) (*Column, bool) {
	for i := range t.Columns {
		if strings.EqualFold(t.Columns[i].Name, name) {
			return &t.Columns[i], true
		}
	}
	return nil, false
}

// NotFoundError says a table does not exist in the source as a base
// table; Type is what the name is instead ("VIEW", "SYSTEM VIEW", ...),
// empty when nothing has that name.
type NotFoundError struct{ DB, Table, Type string }

func (e *NotFoundError) Error() string {
	if strings.Contains(e.Type, "VIEW") {
		return fmt.Sprintf("table %q in MySQL database %q is a view, not a base table: livemigrate copies base tables; list the tables the view reads from in the spec instead (`plan` lists views under \"not migrated\")", e.Table, e.DB)
	}
	if e.Type != "" {
		return fmt.Sprintf("table %q in MySQL database %q is a %s, not a base table; remove it from the spec", e.Table, e.DB, strings.ToLower(e.Type))
	}
	return fmt.Sprintf("table %q not found in MySQL database %q; check the spec's tables[].source", e.Table, e.DB)
}

// BadInput marks the error as the operator's to fix (exit 2).
func (e *NotFoundError) BadInput() bool { return true }

// Tables lists the base tables of a database.
func Tables(ctx context.Context, db *sql.DB, dbName string) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`, dbName)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Introspect reads one table's definition.
func Introspect(ctx context.Context, db *sql.DB, dbName, table string) (*Table, error) {
	t := &Table{Name: table}
	var autoInc sql.NullInt64
	err := db.QueryRowContext(ctx, `SELECT TABLE_NAME, COALESCE(TABLE_ROWS,0), COALESCE(AVG_ROW_LENGTH,0), AUTO_INCREMENT
		FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND TABLE_TYPE = 'BASE TABLE'`,
		dbName, table).Scan(&t.Name, &t.EstimatedRows, &t.AvgRowLength, &autoInc)
	if err == sql.ErrNoRows {
		nf := &NotFoundError{DB: dbName, Table: table}
		db.QueryRowContext(ctx, `SELECT TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
			dbName, table).Scan(&nf.Type)
		return nil, nf
	}
	if err != nil {
		return nil, fmt.Errorf("introspect %s: %w", table, err)
	}
	if err := introspectColumns(ctx, db, dbName, t); err != nil {
		return nil, err
	}
	if err := introspectIndexes(ctx, db, dbName, t); err != nil {
		return nil, err
	}
	if err := introspectForeignKeys(ctx, db, dbName, t); err != nil {
		return nil, err
	}
	if err := introspectJSON(ctx, db, dbName, t); err != nil {
		return nil, err
	}
	for _, c := range t.Columns {
		if c.AutoIncrement {
			t.AutoIncrement = true
		}
	}
	return t, nil
}

func introspectColumns(ctx context.Context, db *sql.DB, dbName string, t *Table) error {
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE,
		LOWER(DATA_TYPE), COLUMN_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE,
		DATETIME_PRECISION, CHARACTER_SET_NAME, COLLATION_NAME, LOWER(EXTRA), COALESCE(GENERATION_EXPRESSION, ''), COALESCE(COLUMN_COMMENT, '')
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, dbName, t.Name)
	if err != nil {
		return fmt.Errorf("introspect columns of %s: %w", t.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var c Column
		var def, charset, coll sql.NullString
		var nullable, extra string
		var maxLen, prec, scale, dtp sql.NullInt64
		if err := rows.Scan(&c.Name, &c.Ordinal, &def, &nullable, &c.DataType, &c.ColumnType, &maxLen, &prec, &scale,
			&dtp, &charset, &coll, &extra, &c.Expression, &c.Comment); err != nil {
			return err
		}
		c.Nullable = nullable == "YES"
		if def.Valid {
			d := def.String
			c.Default = &d
		}
		c.CharMaxLen, c.Precision, c.Scale, c.DatetimePrecision = maxLen.Int64, int(prec.Int64), int(scale.Int64), int(dtp.Int64)
		c.Charset, c.Collation = charset.String, coll.String
		// The type keywords only: an ENUM member named 'unsigned' is not a flag.
		c.Unsigned = c.DataType != "enum" && c.DataType != "set" && strings.Contains(strings.ToLower(c.ColumnType), "unsigned")
		c.AutoIncrement = strings.Contains(extra, "auto_increment")
		c.Generated = strings.Contains(extra, "generated") || strings.Contains(extra, "virtual") || strings.Contains(extra, "persistent") || strings.Contains(extra, "stored")
		if c.DataType == "json" {
			c.JSON = true
		}
		t.Columns = append(t.Columns, c)
	}
	return rows.Err()
}

func introspectIndexes(ctx context.Context, db *sql.DB, dbName string, t *Table) error {
	rows, err := db.QueryContext(ctx, `SELECT INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART, NULLABLE,
		COALESCE(INDEX_TYPE, ''), COALESCE(COLLATION, 'A')
		FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
		ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`, dbName, t.Name)
	if err != nil {
		return fmt.Errorf("introspect indexes of %s: %w", t.Name, err)
	}
	defer rows.Close()
	byName := map[string]*Index{}
	var order []string
	for rows.Next() {
		var name, col, nullable, typ, coll string
		var nonUnique, seq int
		var subPart sql.NullInt64
		if err := rows.Scan(&name, &nonUnique, &seq, &col, &subPart, &nullable, &typ, &coll); err != nil {
			return err
		}
		ix, ok := byName[name]
		if !ok {
			ix = &Index{Name: name, Unique: nonUnique == 0, Type: strings.ToUpper(typ)}
			byName[name] = ix
			order = append(order, name)
		}
		ix.Columns = append(ix.Columns, col)
		if coll == "D" {
			for len(ix.Desc) < len(ix.Columns)-1 {
				ix.Desc = append(ix.Desc, false)
			}
			ix.Desc = append(ix.Desc, true)
		}
		if nullable == "YES" {
			ix.Nullable = true
		}
		if subPart.Valid {
			ix.Prefix = true
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, n := range order {
		if ix := byName[n]; ix.Desc != nil {
			for len(ix.Desc) < len(ix.Columns) {
				ix.Desc = append(ix.Desc, false)
			}
		}
		if n == "PRIMARY" {
			t.PrimaryKey = byName[n].Columns
			continue
		}
		t.Indexes = append(t.Indexes, *byName[n])
	}
	return nil
}

func introspectForeignKeys(ctx context.Context, db *sql.DB, dbName string, t *Table) error {
	rows, err := db.QueryContext(ctx, `SELECT k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME,
		COALESCE(r.DELETE_RULE, ''), COALESCE(r.UPDATE_RULE, '')
		FROM information_schema.KEY_COLUMN_USAGE k
		LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS r
		  ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME
		WHERE k.TABLE_SCHEMA = ? AND k.TABLE_NAME = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL
		ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION`, dbName, t.Name)
	if err != nil {
		return fmt.Errorf("introspect foreign keys of %s: %w", t.Name, err)
	}
	defer rows.Close()
	byName := map[string]*ForeignKey{}
	var order []string
	for rows.Next() {
		var name, col, refT, refC, onDel, onUpd string
		if err := rows.Scan(&name, &col, &refT, &refC, &onDel, &onUpd); err != nil {
			return err
		}
		fk, ok := byName[name]
		if !ok {
			fk = &ForeignKey{Name: name, RefTable: refT, OnDelete: onDel, OnUpdate: onUpd}
			byName[name] = fk
			order = append(order, name)
		}
		fk.Columns = append(fk.Columns, col)
		fk.RefColumns = append(fk.RefColumns, refC)
	}
	for _, n := range order {
		t.ForeignKeys = append(t.ForeignKeys, *byName[n])
	}
	return rows.Err()
}

var jsonCheck = regexp.MustCompile("(?i)json_valid\\(`?([^`)]+)`?\\)")

// introspectJSON marks MariaDB JSON columns, which information_schema shows
// as LONGTEXT guarded by a json_valid() check constraint.
func introspectJSON(ctx context.Context, db *sql.DB, dbName string, t *Table) error {
	rows, err := db.QueryContext(ctx, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
		WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`, dbName, t.Name)
	if err != nil {
		// MySQL 8 reports JSON as its own data type; no check table needed.
		return nil
	}
	defer rows.Close()
	for rows.Next() {
		var clause string
		if err := rows.Scan(&clause); err != nil {
			return err
		}
		for _, m := range jsonCheck.FindAllStringSubmatch(clause, -1) {
			if c, ok := t.Column(m[1]); ok && (c.DataType == "longtext" || c.DataType == "json") {
				c.JSON = true
			}
		}
	}
	return rows.Err()
}

// ChunkKey returns the columns a table is chunked and deduplicated by: the
// primary key, or the named non-null unique key. It explains the options
// when there is none.
func (t *Table) ChunkKey(named []string) ([]string, error) {
	if len(named) > 0 {
		for _, ix := range t.Indexes {
			if ix.Unique && !ix.Prefix && EqualFoldList(ix.Columns, named) {
				if ix.Nullable {
					return nil, fmt.Errorf("table %q: key %v is unique but nullable; name a NOT NULL unique key or exclude the table", t.Name, named)
				}
				return ix.Columns, nil
			}
		}
		if EqualFoldList(t.PrimaryKey, named) {
			return t.PrimaryKey, nil
		}
		return nil, fmt.Errorf("table %q: key %v is not a unique key of the table; name the columns of a NOT NULL unique key", t.Name, named)
	}
	if len(t.PrimaryKey) > 0 {
		return t.PrimaryKey, nil
	}
	var cands []string
	for _, ix := range t.Indexes {
		if ix.Unique && !ix.Nullable && !ix.Prefix {
			cands = append(cands, "["+strings.Join(ix.Columns, ", ")+"]")
		}
	}
	sort.Strings(cands)
	if len(cands) > 0 {
		return nil, fmt.Errorf("table %q has no primary key; options: name a NOT NULL unique key with `key: %s` in its spec entry, or exclude the table from the spec", t.Name, cands[0])
	}
	return nil, fmt.Errorf("table %q has no primary key and no NOT NULL unique key to chunk and deduplicate by; options: exclude the table from the spec, or add a primary key (or a NOT NULL unique key and name it with `key: [cols]`) in MySQL", t.Name)
}

// EqualFoldList reports whether two column lists name the same columns in
// order, compared as MySQL compares column names (case-insensitively).
func EqualFoldList(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}

// containsFold reports whether list holds s, compared as MySQL compares
// column names (case-insensitively).
func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
