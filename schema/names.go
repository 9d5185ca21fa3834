package schema

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"

	unorm "golang.org/x/text/unicode/norm"
)

// Spanner's naming rules for tables, columns, indexes and constraints: 1 to
// 128 characters, letters, digits and underscores, starting with a letter.
// GoogleSQL's reserved keywords are accepted only quoted (the DDL quotes
// every name), so every query the application writes would have to quote
// them: a target name that is one is a warning (reserved-name), and names
// livemigrate generates avoid them.
const MaxNameLen = 128

// shadowPrefix is livewrite's shadow-table prefix (lm_shadow_<table>): a
// table name must leave room for it.
const shadowPrefix = "lm_shadow_"

// reservedWords are GoogleSQL's reserved keywords.
var reservedWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`ALL AND ANY ARRAY AS ASC ASSERT_ROWS_MODIFIED AT BETWEEN BY CASE CAST COLLATE
		CONTAINS CREATE CROSS CUBE CURRENT DEFAULT DEFINE DESC DISTINCT ELSE END ENUM ESCAPE EXCEPT EXCLUDE EXISTS
		EXTRACT FALSE FETCH FOLLOWING FOR FROM FULL GROUP GROUPING GROUPS HASH HAVING IF IGNORE IN INNER INTERSECT
		INTERVAL INTO IS JOIN LATERAL LEFT LIKE LIMIT LOOKUP MERGE NATURAL NEW NO NOT NULL NULLS OF ON OR ORDER
		OUTER OVER PARTITION PRECEDING PROTO RANGE RECURSIVE RESPECT RIGHT ROLLUP ROWS SELECT SET SOME STRUCT
		TABLESAMPLE THEN TO TREAT TRUE UNBOUNDED UNION UNNEST USING WHEN WHERE WINDOW WITH WITHIN`) {
		reservedWords[w] = true
	}
}

// Reserved reports a GoogleSQL reserved keyword (compared case-insensitively).
func Reserved(s string) bool { return reservedWords[strings.ToUpper(s)] }

// NameProblem says why Spanner would refuse s as a name, or "" when it
// accepts it.
func NameProblem(s string) string {
	switch {
	case s == "":
		return "it is empty"
	case len(s) > MaxNameLen:
		return fmt.Sprintf("it is %d characters long (Spanner allows %d)", len(s), MaxNameLen)
	case !isASCIILetter(rune(s[0])):
		return "it does not start with a letter"
	}
	for _, r := range s {
		if !isASCIILetter(r) && !(r >= '0' && r <= '9') && r != '_' {
			return "it may hold only letters, digits and underscores"
		}
	}
	return ""
}

func isASCIILetter(r rune) bool { return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') }

// translit spells letters that have no decomposition in ASCII.
var translit = strings.NewReplacer("ß", "ss", "ẞ", "SS", "æ", "ae", "Æ", "AE", "ø", "o", "Ø", "O", "œ", "oe", "Œ", "OE",
	"ł", "l", "Ł", "L", "đ", "d", "Đ", "D", "þ", "th", "Þ", "Th", "ð", "d", "Ð", "D")

// SuggestName turns s into a valid Spanner name close to it: accents
// dropped, every other character outside [A-Za-z0-9_] an underscore, a
// letter prefix where it does not start with one, a reserved keyword
// suffixed with "_", at most max characters (a short hash keeps truncated
// names apart). It keeps the case of s.
func SuggestName(s string, max int) string {
	if max <= 0 || max > MaxNameLen {
		max = MaxNameLen
	}
	var b strings.Builder
	for _, r := range unorm.NFD.String(translit.Replace(s)) {
		switch {
		case unicode.Is(unicode.Mn, r):
			// a combining accent: é → e
		case isASCIILetter(r) || (r >= '0' && r <= '9') || r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	for strings.Contains(out, "__") {
		out = strings.ReplaceAll(out, "__", "_")
	}
	out = strings.Trim(out, "_")
	if out == "" || !isASCIILetter(rune(out[0])) {
		out = "x_" + out
		out = strings.TrimRight(out, "_")
	}
	if reservedWords[strings.ToUpper(out)] {
		out += "_"
	}
	if len(out) > max {
		sum := sha1.Sum([]byte(s))
		out = strings.TrimRight(out[:max-9], "_") + "_" + hex.EncodeToString(sum[:4])
	}
	return out
}

// generatedName returns name when it is a valid Spanner name not yet
// taken (compared case-insensitively, as Spanner does), otherwise a
// suggested valid name, numbered until it is free; it records the name.
func generatedName(name string, taken map[string]bool) string {
	out := name
	if NameProblem(out) != "" || Reserved(out) {
		out = SuggestName(name, MaxNameLen)
	}
	for i := 2; taken[strings.ToLower(out)]; i++ {
		suffix := fmt.Sprintf("_%d", i)
		base := out
		if len(base)+len(suffix) > MaxNameLen {
			base = base[:MaxNameLen-len(suffix)]
		}
		out = base + suffix
		if !taken[strings.ToLower(out)] {
			break
		}
		out = base
	}
	taken[strings.ToLower(out)] = true
	return out
}

// reservedNames warns about target table and column names that are
// GoogleSQL reserved keywords.
func (p *TablePlan) reservedNames() []Warning {
	var out []Warning
	if Reserved(p.Target) {
		out = append(out, newWarning(WReservedName, p.Source, "", "", fmt.Sprintf("table %s; rename it with `target: %s`", p.Target, SuggestName(p.Target, MaxNameLen-len(shadowPrefix)))))
	}
	for _, c := range p.Cols {
		if Reserved(c.Target) {
			out = append(out, newWarning(WReservedName, p.Source, c.Target, "", fmt.Sprintf("rename it with `columns: {rename: {%s: %s}}`", yamlKey(c.Source), SuggestName(c.Target, MaxNameLen))))
		}
	}
	return out
}

// checkNames rejects a target table or column name Spanner would refuse,
// naming the spec change that fixes it.
func (p *TablePlan) checkNames() error {
	if why := NameProblem(p.Target); why != "" {
		return fmt.Errorf("table %q: target name %q is not a valid Spanner table name: %s; set `target: %s` in its spec entry",
			p.Source, p.Target, why, SuggestName(p.Target, MaxNameLen-len(shadowPrefix)))
	}
	if len(p.Target)+len(shadowPrefix) > MaxNameLen {
		return fmt.Errorf("table %q: target name %q is too long: its shadow table %s%s would exceed Spanner's %d characters; set `target: %s` in its spec entry",
			p.Source, p.Target, shadowPrefix, p.Target, MaxNameLen, SuggestName(p.Target, MaxNameLen-len(shadowPrefix)))
	}
	for _, c := range p.Cols {
		if why := NameProblem(c.Target); why != "" {
			return fmt.Errorf("table %q: target column name %q is not a valid Spanner column name: %s; add `columns: {rename: {%s: %s}}` to its spec entry",
				p.Source, c.Target, why, yamlKey(c.Source), SuggestName(c.Target, MaxNameLen))
		}
	}
	return nil
}

// yamlKey quotes a name for a YAML flow mapping unless it is a plain
// identifier.
func yamlKey(s string) string {
	plain := s != "" && isASCIILetter(rune(s[0])) && !reservedWords[strings.ToUpper(s)]
	for _, r := range s {
		if !isASCIILetter(r) && !(r >= '0' && r <= '9') && r != '_' {
			plain = false
		}
	}
	if plain {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
