package schema

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Kind says how a column's values are converted. Each MySQL type maps to
// exactly one Kind, which fixes the Spanner type and the converter.
type Kind int

const (
	KindInt64         Kind = iota + 1 // TINYINT..BIGINT (signed), INT UNSIGNED and smaller
	KindBool                          // TINYINT(1), BOOL
	KindUint64Numeric                 // BIGINT UNSIGNED → NUMERIC
	KindUint64String                  // BIGINT UNSIGNED → STRING (option)
	KindNumeric                       // DECIMAL that fits NUMERIC(38,9)
	KindDecimalString                 // DECIMAL that does not fit → STRING
	KindFloat32                       // FLOAT
	KindFloat64                       // DOUBLE
	KindBitBool                       // BIT(1)
	KindBitBytes                      // BIT(n)
	KindBitInt64                      // BIT(n) → INT64 (option)
	KindString                        // CHAR, VARCHAR, TEXT family, ENUM, TIME, spatial WKT
	KindSetArray                      // SET → ARRAY<STRING>
	KindJSON                          // JSON
	KindBytes                         // BINARY, VARBINARY, BLOB family
	KindDate                          // DATE
	KindDatetime                      // DATETIME: wall clock in the source zone
	KindTimestamp                     // TIMESTAMP: UTC (session pinned)
	KindYear                          // YEAR
	KindTextString                    // any type forced to STRING by an override: its MySQL text form
)

// Spanner limits that shape the mapping.
const (
	MaxCellBytes       = 10 << 20 // 10 MiB per STRING/BYTES cell
	MaxStringLen       = 2621440  // STRING(n) maximum n
	MaxBytesLen        = 10485760 // BYTES(n) maximum n
	NumericIntDigits   = 29
	NumericScaleDigits = 9
)

// Options are the spec's mapping choices.
type Options struct {
	UnsignedBigintAsString bool
	SetAsString            bool
	BitAsInt64             bool
	// Override forces a Spanner type for this column (from the spec).
	Override string
	// PII marks a column whose values are encrypted: BYTES(MAX).
	PII bool
}

// Mapping is the one decision for a column: its Spanner type and converter.
type Mapping struct {
	Kind Kind `json:"kind"`
	// SpannerType is the DDL type, e.g. STRING(255), ARRAY<STRING(MAX)>.
	SpannerType string `json:"spanner_type"`
	// Note explains a lossy or notable mapping ("" when exact).
	Note string `json:"note,omitempty"`
	// Select is the SQL expression that reads the column (spatial → WKT).
	Select string `json:"select"`
	// MaxLen is the character (STRING) or byte (BYTES) limit, 0 for MAX.
	MaxLen int64 `json:"max_len,omitempty"`
	// StoredKind, when set, is how Spanner holds the column's values when
	// it differs from Kind: a PII policy turns a STRING into BYTES of
	// ciphertext. DecodeRow reads stored values with it.
	StoredKind Kind `json:"stored_kind,omitempty"`
	// Members are a SET's members in definition order, as its definition
	// (information_schema's COLUMN_TYPE) spells them. The column is read as
	// "bitmask,text" (SetSelect): the text gives each member's exact bytes
	// (the definition text loses characters outside the BMP on MariaDB), and
	// the bitmask, unlike the text, tells the empty member from the empty set.
	Members []string `json:"members,omitempty"`
}

var spatialTypes = map[string]bool{"geometry": true, "point": true, "linestring": true, "polygon": true,
	"multipoint": true, "multilinestring": true, "multipolygon": true, "geometrycollection": true, "geomcollection": true}

const jsonNote = "JSON is normalised by Spanner (keys sorted, whitespace dropped); documents Spanner cannot store exactly (duplicate keys, numbers that are not int64/uint64/round-trip doubles, nesting over 80) are dead-lettered"

var tinyint1 = regexp.MustCompile(`^tinyint\(1\)`)
var bitN = regexp.MustCompile(`^bit\((\d+)\)`)

// UnsupportedError says a column cannot be mapped; the message says what to do.
type UnsupportedError struct{ Column, Type, Why string }

// BadInput marks the error as the operator's to fix (exit 2).
func (e *UnsupportedError) BadInput() bool { return true }

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("column %q (%s): %s", e.Column, e.Type, e.Why)
}

// Stored is the Kind the column's values have in Spanner.
func (m *Mapping) Stored() Kind {
	if m.StoredKind != 0 {
		return m.StoredKind
	}
	return m.Kind
}

// Map decides the Spanner type and converter of one column.
func Map(c Column, o Options) (Mapping, error) {
	m, err := mapDefault(c, o)
	if err != nil {
		return m, err
	}
	if o.PII {
		m.SpannerType, m.Note, m.MaxLen = "BYTES(MAX)", "PII: encrypted, stored as ciphertext", 0
		return m, nil
	}
	if o.Override != "" {
		return applyOverride(c, m, o.Override)
	}
	return m, nil
}

func mapDefault(c Column, o Options) (Mapping, error) {
	sel := QuoteIdent(c.Name)
	m := Mapping{Select: sel}
	ct := strings.ToLower(c.ColumnType) // for type keywords only; members come from c.ColumnType

	switch dt := c.DataType; {
	case dt == "tinyint" && tinyint1.MatchString(ct) && !c.Unsigned, dt == "bool", dt == "boolean":
		m.Kind, m.SpannerType = KindBool, "BOOL"
		m.Note = "TINYINT(1) read as BOOL; values other than 0 and 1 are dead-lettered"
	case dt == "tinyint", dt == "smallint", dt == "mediumint", dt == "int", dt == "integer":
		m.Kind, m.SpannerType = KindInt64, "INT64"
	case dt == "bigint" && c.Unsigned:
		if o.UnsignedBigintAsString {
			m.Kind, m.SpannerType, m.Note = KindUint64String, "STRING(20)", "BIGINT UNSIGNED as decimal STRING"
		} else {
			m.Kind, m.SpannerType, m.Note = KindUint64Numeric, "NUMERIC", "BIGINT UNSIGNED as NUMERIC (INT64 would overflow)"
		}
	case dt == "bigint":
		m.Kind, m.SpannerType = KindInt64, "INT64"
	case dt == "decimal", dt == "numeric", dt == "fixed", dt == "dec":
		if c.Scale <= NumericScaleDigits && c.Precision-c.Scale <= NumericIntDigits {
			m.Kind, m.SpannerType = KindNumeric, "NUMERIC"
		} else {
			m.Kind, m.SpannerType = KindDecimalString, "STRING(MAX)"
			m.Note = fmt.Sprintf("DECIMAL(%d,%d) exceeds Spanner NUMERIC (29 integer, 9 fraction digits): stored as exact decimal STRING", c.Precision, c.Scale)
		}
	case dt == "float":
		m.Kind, m.SpannerType = KindFloat32, "FLOAT32"
	case dt == "double", dt == "real", dt == "double precision":
		m.Kind, m.SpannerType = KindFloat64, "FLOAT64"
	case dt == "bit":
		n := 1
		if mm := bitN.FindStringSubmatch(ct); mm != nil {
			n, _ = strconv.Atoi(mm[1])
		}
		switch {
		case n == 1:
			m.Kind, m.SpannerType = KindBitBool, "BOOL"
		case o.BitAsInt64:
			m.Kind, m.SpannerType = KindBitInt64, "INT64"
			if n == 64 {
				m.Note = "BIT(64) as INT64: values ≥ 2^63 are dead-lettered"
			}
		default:
			m.Kind, m.SpannerType, m.MaxLen = KindBitBytes, fmt.Sprintf("BYTES(%d)", (n+7)/8), int64((n+7)/8)
			m.Note = "BIT(n) as big-endian BYTES"
		}
	case dt == "char", dt == "varchar":
		if isBinaryCharset(c) {
			return mapBytes(c, m), nil
		}
		m.Kind, m.SpannerType, m.MaxLen = KindString, stringType(c.CharMaxLen), c.CharMaxLen
	case dt == "tinytext", dt == "text", dt == "mediumtext", dt == "longtext":
		if c.JSON {
			m.Kind, m.SpannerType, m.Note = KindJSON, "JSON", jsonNote
			break
		}
		if isBinaryCharset(c) {
			return mapBytes(c, m), nil
		}
		m.Kind, m.SpannerType = KindString, "STRING(MAX)"
		if dt == "longtext" {
			m.Note = "values over Spanner's 10 MiB cell limit are dead-lettered"
		}
	case dt == "json":
		m.Kind, m.SpannerType = KindJSON, "JSON"
		m.Note = jsonNote
	case dt == "enum":
		m.Kind, m.SpannerType, m.MaxLen = KindString, stringType(c.CharMaxLen), c.CharMaxLen
		m.Note = "ENUM as its member text (MySQL's invalid-value entry reads as '')"
	case dt == "set":
		if o.SetAsString {
			m.Kind, m.SpannerType, m.MaxLen = KindString, stringType(c.CharMaxLen), c.CharMaxLen
			m.Note = "SET as MySQL's comma-separated text (an empty-string member is not shown in it)"
		} else {
			m.Kind, m.SpannerType = KindSetArray, "ARRAY<STRING(MAX)>"
			m.Members = EnumMembers(c.ColumnType)
			m.Select = SetSelect(sel)
			m.Note = "SET read as its bitmask and its text and stored as ARRAY<STRING> of its members (MySQL's exact text) in definition order; the empty set is []"
		}
	case dt == "binary", dt == "varbinary", dt == "tinyblob", dt == "blob", dt == "mediumblob", dt == "longblob":
		return mapBytes(c, m), nil
	case dt == "date":
		m.Kind, m.SpannerType = KindDate, "DATE"
		m.Note = "zero dates are dead-lettered"
	case dt == "datetime":
		m.Kind, m.SpannerType = KindDatetime, "TIMESTAMP"
		m.Note = "DATETIME read as wall-clock time in source.time_zone"
	case dt == "timestamp":
		m.Kind, m.SpannerType = KindTimestamp, "TIMESTAMP"
		m.Note = "TIMESTAMP read in UTC (session pinned); zero timestamps are dead-lettered"
	case dt == "time":
		m.Kind, m.SpannerType, m.MaxLen = KindString, "STRING(17)", 17
		m.Note = "TIME as STRING [-]HHH:MM:SS[.ffffff] (negative and > 24 h kept)"
	case dt == "year":
		m.Kind, m.SpannerType = KindYear, "INT64"
		m.Note = "YEAR as INT64 (the zero year 0000 is 0)"
	case spatialTypes[dt]:
		m.Kind, m.SpannerType = KindString, "STRING(MAX)"
		m.Select = "ST_AsText(" + sel + ")"
		m.Note = "spatial as WKT STRING via ST_AsText (the SRID is not kept)"
	default:
		return m, &UnsupportedError{Column: c.Name, Type: c.ColumnType, Why: "no Spanner mapping for this type; exclude the column or override its type to STRING(MAX)"}
	}
	return m, nil
}

func mapBytes(c Column, m Mapping) Mapping {
	m.Kind = KindBytes
	switch c.DataType {
	case "binary", "varbinary", "char", "varchar":
		if c.CharMaxLen > 0 && c.CharMaxLen <= MaxBytesLen {
			m.SpannerType, m.MaxLen = fmt.Sprintf("BYTES(%d)", c.CharMaxLen), c.CharMaxLen
			return m
		}
	}
	m.SpannerType = "BYTES(MAX)"
	if c.DataType == "longblob" || c.DataType == "mediumblob" {
		m.Note = "values over Spanner's 10 MiB cell limit are dead-lettered"
	}
	return m
}

func isBinaryCharset(c Column) bool { return c.Charset == "binary" }

func stringType(n int64) string {
	if n <= 0 || n > MaxStringLen {
		return "STRING(MAX)"
	}
	return fmt.Sprintf("STRING(%d)", n)
}

var overrideRE = regexp.MustCompile(`^(STRING|BYTES)\((MAX|\d+)\)$|^(INT64|BOOL|NUMERIC|FLOAT64|FLOAT32|JSON|DATE|TIMESTAMP|ARRAY<STRING\(MAX\)>)$`)

// applyOverride honours a spec type override where the value can be carried
// without loss; anything else is a spec error.
func applyOverride(c Column, m Mapping, override string) (Mapping, error) {
	ov := strings.ToUpper(strings.ReplaceAll(override, " ", ""))
	if !overrideRE.MatchString(ov) {
		return m, &UnsupportedError{Column: c.Name, Type: c.ColumnType, Why: fmt.Sprintf("override type %q is not a Spanner column type", override)}
	}
	if ov == m.SpannerType {
		return m, nil
	}
	bad := func() (Mapping, error) {
		return m, &UnsupportedError{Column: c.Name, Type: c.ColumnType, Why: fmt.Sprintf("cannot be overridden to %s without loss; use STRING(MAX) or remove the override", ov)}
	}
	switch {
	case strings.HasPrefix(ov, "STRING("):
		n := int64(0)
		if !strings.HasSuffix(ov, "(MAX)") {
			n, _ = strconv.ParseInt(ov[7:len(ov)-1], 10, 64)
		}
		switch m.Kind {
		case KindString, KindDecimalString, KindUint64String:
			m.SpannerType, m.MaxLen = ov, n
			m.Note = "overridden to " + ov + "; longer values are dead-lettered"
		case KindBytes:
			// Text kept in a binary column (a common legacy pattern).
			m.Kind, m.SpannerType, m.MaxLen = KindTextString, ov, n
			m.Note = "binary column holding text, overridden to " + ov + ": values that are not valid UTF-8 are dead-lettered"
		case KindBitBytes:
			return bad()
		default:
			m.Kind, m.SpannerType, m.MaxLen = KindTextString, ov, n
			m.Select, m.Members = QuoteIdent(c.Name), nil
			if spatialTypes[c.DataType] {
				m.Select = "ST_AsText(" + QuoteIdent(c.Name) + ")"
			}
			m.Note = "overridden to " + ov + ": MySQL's text form of the value"
		}
		return m, nil
	case ov == "NUMERIC" && m.Kind == KindDecimalString:
		m.Kind, m.SpannerType, m.MaxLen = KindNumeric, ov, 0
		m.Note = fmt.Sprintf("DECIMAL(%d,%d) overridden to NUMERIC: values beyond 29 integer or 9 fraction digits are dead-lettered, never rounded", c.Precision, c.Scale)
	case ov == "INT64" && (m.Kind == KindUint64Numeric || m.Kind == KindUint64String):
		m.Kind, m.SpannerType, m.MaxLen = KindInt64, ov, 0
		m.Note = "BIGINT UNSIGNED overridden to INT64: values above 9223372036854775807 are dead-lettered"
	case ov == "INT64" && m.Kind == KindBitBytes:
		m.Kind, m.SpannerType, m.MaxLen, m.Note = KindBitInt64, ov, 0, "BIT(n) as INT64 (override)"
	case ov == "INT64" && m.Kind == KindBool:
		m.Kind, m.SpannerType, m.Note = KindInt64, ov, "TINYINT(1) kept as INT64 (override)"
	case ov == "BYTES(MAX)" && (m.Kind == KindBitBytes || m.Kind == KindBytes):
		m.SpannerType, m.MaxLen = ov, 0
	case ov == "FLOAT64" && m.Kind == KindFloat32:
		m.Kind, m.SpannerType = KindFloat64, ov
	case ov == "JSON" && m.Kind == KindString && (c.DataType == "longtext" || c.DataType == "text" || c.DataType == "mediumtext"):
		m.Kind, m.SpannerType = KindJSON, ov
	default:
		return bad()
	}
	return m, nil
}

// SetSelect is the SQL expression a SET column is read with: its bitmask,
// a comma, and MySQL's own text of the value (NULL when the column is).
func SetSelect(quoted string) string { return "CONCAT(" + quoted + "+0, ',', " + quoted + ")" }

// EnumMembers parses the members of an enum('a','b') or set('a','b')
// column type, in definition order, exactly as information_schema quotes
// them: ” is a quote, \\ a backslash. Case and bytes are kept (MySQL
// already trimmed trailing spaces when the column was defined).
func EnumMembers(columnType string) []string {
	open := strings.IndexByte(columnType, '(')
	if open < 0 {
		return nil
	}
	var out []string
	s := columnType[open+1:]
	for len(s) > 0 && s[0] == '\'' {
		var b strings.Builder
		i := 1
		for i < len(s) {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i += 2
					continue
				}
				break
			}
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
			i++
		}
		out = append(out, b.String())
		s = strings.TrimLeft(s[min(i+1, len(s)):], ",")
	}
	return out
}

// QuoteIdent quotes a MySQL identifier.
func QuoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
