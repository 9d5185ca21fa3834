package schema

import (
	"fmt"
	"sort"
	"strings"
)

// Warning is something the operator should know about the target schema —
// a write hotspot, a foreign-key rule Spanner lacks, an index that cannot
// mean the same thing — reported like a linter finding: a stable Code whose
// explanation (Message) is the same for every table, and the table,
// column or object it was found on with what is particular to it (Detail).
type Warning struct {
	Code    string `json:"code"`
	Table   string `json:"table"`
	Column  string `json:"column,omitempty"`
	Object  string `json:"object,omitempty"` // index or constraint name
	Detail  string `json:"detail,omitempty"`
	Message string `json:"message"`
	// Acknowledged is set when the spec lists the code under acknowledge.
	Acknowledged bool `json:"acknowledged,omitempty"`
}

// Warning codes. Each has one explanation in warningText.
const (
	WAutoIncrementHotspot = "auto-increment-hotspot"
	WTimeOrderedHotspot   = "time-ordered-hotspot"
	WFKOnUpdate           = "fk-on-update"
	WFKOnDeleteSetNull    = "fk-on-delete-set-null"
	WFKParentNotInSpec    = "fk-parent-not-in-spec"
	WFKColumnsNotCopied   = "fk-columns-not-copied"
	WIndexColumnsNotCopy  = "index-columns-not-copied"
	WIndexUnindexable     = "index-unindexable-type"
	WIndexPrefix          = "index-prefix"
	WIndexKeySize         = "index-key-size"
	WFulltextIndex        = "fulltext-index"
	WFulltextSearchIndex  = "fulltext-search-index"
	WSpatialIndex         = "spatial-index"
	WInterleaveCandidate  = "interleave-candidate"
	WInterleaveRename     = "interleave-needs-rename"
	WNameSanitised        = "name-sanitised"
	WReservedName         = "reserved-name"
)

// hotspotRemedy is the advice printed for a monotonically increasing key.
const hotspotRemedy = "every new row lands at the end of the key space, so inserts hit one Spanner split (a write hotspot). " +
	"Remedy for new rows: a bit-reversed sequence (CREATE SEQUENCE s OPTIONS (sequence_kind = 'bit_reversed_positive') and DEFAULT (GET_NEXT_SEQUENCE_VALUE(SEQUENCE s))), " +
	"a UUID key (GENERATE_UUID()), or a shard prefix key column (e.g. ShardId INT64 AS (MOD(FARM_FINGERPRINT(CAST(id AS STRING)), 16)) STORED, first in the primary key)"

var warningText = map[string]string{
	WAutoIncrementHotspot: "AUTO_INCREMENT first primary-key column: " + hotspotRemedy,
	WTimeOrderedHotspot:   "time-ordered first primary-key column: " + hotspotRemedy,
	WFKOnUpdate:           "ON UPDATE CASCADE / SET NULL / SET DEFAULT has no Spanner equivalent (Spanner cannot update a key in place; a key change is a delete and an insert): the constraint is created without it, so the application must change child keys itself",
	WFKOnDeleteSetNull:    "ON DELETE SET NULL / SET DEFAULT has no Spanner equivalent: the constraint is created as ON DELETE NO ACTION, so deleting a parent with children fails until the application clears them first",
	WFKParentNotInSpec:    "foreign key skipped: the table it references is not in the spec",
	WFKColumnsNotCopied:   "foreign key skipped: not all of its columns are copied",
	WIndexColumnsNotCopy:  "index skipped: not all of its columns are copied",
	WIndexUnindexable:     "index skipped: one of its columns maps to a Spanner type that cannot be an index key (ARRAY, JSON)",
	WIndexPrefix:          "MySQL indexes only a prefix of a column here; the Spanner index holds the whole value (larger keys, and a UNIQUE prefix index would compare whole values)",
	WIndexKeySize: "the index key can exceed Spanner's 8 KiB key limit (it includes STRING(MAX)/BYTES(MAX) or long columns): a row whose key is longer fails its commit. " +
		"Choose: keep it (defaults.large_index_keys: keep, the default; optionally override the column to a bounded STRING(n) so longer values are dead-lettered instead) or leave it out (defaults.large_index_keys: skip)",
	WFulltextIndex: "FULLTEXT index not created: a Spanner index on the columns would not search words, and long text would exceed the 8 KiB key limit. " +
		"Spanner's equivalent is full-text search: a TOKENLIST column per text column (AS (TOKENIZE_FULLTEXT(col)) HIDDEN) and a SEARCH INDEX over them, queried with SEARCH(tokens, 'words'); " +
		"generate exactly that with `plan --fulltext=search` or defaults.fulltext: search",
	WFulltextSearchIndex: "FULLTEXT index created as Spanner full-text search: a hidden TOKENLIST column per text column and a SEARCH INDEX over them. Queries change from MATCH ... AGAINST to SEARCH(tokens, 'words'); " +
		"the backfill does not write the TOKENLIST columns (Spanner computes them)",
	WSpatialIndex: "SPATIAL index not created: Spanner has no spatial index, and the column is copied as WKT text. Area queries need another scheme, e.g. an S2 cell or geohash column with an ordinary index",
	WInterleaveCandidate: "could be interleaved in its parent (INTERLEAVE IN PARENT): its primary key starts with the parent's key and a foreign key links them, so Spanner would store each parent's rows together (cheaper joins and parent+children reads). " +
		"Generate it with `plan --interleave` or tables[].interleave_in: PARENT; the backfill then copies parents before children",
	WInterleaveRename: "could be interleaved in its parent, but Spanner requires an interleaved table's key to start with its parent's key columns by the same names: rename the columns as shown (tables[].columns.rename), then use --interleave or interleave_in",
	WReservedName:     "the name is a GoogleSQL reserved keyword: Spanner accepts it only quoted (the DDL quotes it), so every query the application writes must quote it too (`name`)",
	WNameSanitised:    "a generated name (index, constraint or TOKENLIST column) made from MySQL names is not a valid Spanner name; it was changed as shown",
}

// WarningCodes lists every code, sorted.
func WarningCodes() []string {
	out := make([]string, 0, len(warningText))
	for c := range warningText {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// newWarning builds a warning with its code's explanation.
func newWarning(code, table, column, object, detail string) Warning {
	return Warning{Code: code, Table: table, Column: column, Object: object, Detail: detail, Message: warningText[code]}
}

// Subject is where the warning was found: table, table.column or
// table.object.
func (w Warning) Subject() string {
	switch {
	case w.Column != "":
		return w.Table + "." + w.Column
	case w.Object != "":
		return w.Table + "." + w.Object
	}
	return w.Table
}

func (w Warning) String() string {
	s := fmt.Sprintf("%s [%s]: ", w.Subject(), w.Code)
	if w.Detail != "" {
		s += w.Detail + ": "
	}
	return s + w.Message
}

// checkAcknowledge rejects unknown warning codes in the spec.
func checkAcknowledge(lists ...[]string) error {
	for _, l := range lists {
		for _, c := range l {
			if _, ok := warningText[c]; !ok {
				return fmt.Errorf("acknowledge: %q is not a warning code; use one of %s", c, strings.Join(WarningCodes(), ", "))
			}
		}
	}
	return nil
}

// WarningGroup is every warning of one code.
type WarningGroup struct {
	Code         string    `json:"code"`
	Message      string    `json:"message"`
	Acknowledged bool      `json:"acknowledged,omitempty"`
	Items        []Warning `json:"items"`
}

// GroupWarnings groups warnings by code, in order of first appearance,
// unacknowledged groups first; identical warnings are listed once.
func GroupWarnings(ws []Warning) []WarningGroup {
	var out []WarningGroup
	at := map[string]int{}
	seen := map[Warning]bool{}
	for _, w := range ws {
		if seen[w] {
			continue
		}
		seen[w] = true
		key := fmt.Sprintf("%s/%v", w.Code, w.Acknowledged)
		i, ok := at[key]
		if !ok {
			i = len(out)
			at[key] = i
			out = append(out, WarningGroup{Code: w.Code, Message: w.Message, Acknowledged: w.Acknowledged})
		}
		out[i].Items = append(out[i].Items, w)
	}
	sort.SliceStable(out, func(i, j int) bool { return !out[i].Acknowledged && out[j].Acknowledged })
	return out
}

// RenderWarnings prints warnings grouped, each explanation once, with the
// tables (and columns or objects) it applies to; prefix starts every line
// ("-- " in a DDL script). quiet hides acknowledged warnings but for one
// line that counts them.
func RenderWarnings(ws []Warning, prefix string, quiet bool) string {
	groups := GroupWarnings(ws)
	if len(groups) == 0 {
		return ""
	}
	var b strings.Builder
	var hidden []string
	shown := 0
	for _, g := range groups {
		if g.Acknowledged && quiet {
			hidden = append(hidden, fmt.Sprintf("%s (%d)", g.Code, len(g.Items)))
			continue
		}
		shown++
	}
	fmt.Fprintf(&b, "%sWARNINGS: %d kinds. Acknowledge a code in the spec (defaults.acknowledge or tables[].acknowledge: [CODE]) and hide it with --quiet.\n", prefix, shown)
	for _, g := range groups {
		if g.Acknowledged && quiet {
			continue
		}
		ack := ""
		if g.Acknowledged {
			ack = ", acknowledged"
		}
		fmt.Fprintf(&b, "%s\n%s[%s%s] %s\n", strings.TrimSpace(prefix), prefix, g.Code, ack, g.Message)
		plain := true
		for _, w := range g.Items {
			if w.Detail != "" {
				plain = false
			}
		}
		if plain {
			subj := make([]string, len(g.Items))
			for i, w := range g.Items {
				subj[i] = w.Subject()
			}
			fmt.Fprintf(&b, "%s  on %s\n", prefix, strings.Join(subj, ", "))
			continue
		}
		for _, w := range g.Items {
			fmt.Fprintf(&b, "%s  %s: %s\n", prefix, w.Subject(), w.Detail)
		}
	}
	if len(hidden) > 0 {
		fmt.Fprintf(&b, "%s\n%sacknowledged and hidden (--quiet): %s\n", strings.TrimSpace(prefix), prefix, strings.Join(hidden, ", "))
	}
	return b.String()
}

// acknowledge marks the warnings whose code the table's spec entry (or
// the spec's defaults) acknowledges.
func acknowledge(ws []Warning, plans []TablePlan) []Warning {
	ack := map[string]map[string]bool{}
	for _, p := range plans {
		m := map[string]bool{}
		for _, c := range p.Schema.Acknowledge {
			m[c] = true
		}
		ack[p.Source] = m
	}
	for i := range ws {
		ws[i].Acknowledged = ack[ws[i].Table][ws[i].Code]
	}
	return ws
}
