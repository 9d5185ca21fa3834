package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/spanner"
	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"

	"github.com/livemigrate/livemigrate/job"
	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/schema"
	"github.com/livemigrate/livemigrate/spec"
	"github.com/livemigrate/livemigrate/target"
)

// piiDecryptCmd reads rows by their plaintext key from the target and
// prints their protected columns in plaintext, to its own stdout only: for
// support and for verification. It needs the spec (pii section and
// target), the keyset and the Spanner database, never MySQL, so it works
// after cutover. Errors name columns and positions, never values.
func piiDecryptCmd(fs *pflag.FlagSet) func(ctx context.Context) error {
	specPath := fs.String("spec", "", "migration spec (YAML); required: its pii section and target.database")
	table := fs.String("table", "", "Spanner table; required")
	keys := fs.StringArray("key", nil, "a row's key in plaintext, its columns comma-separated in key order (CSV quoting for commas: '\"a,b\",1'); repeat for more rows; '-' reads keys from stdin, one per line (keeps them out of the process list)")
	tokens := fs.StringArray("token", nil, "a key token (pii:...) from a dead letter or a log: print the key it stands for; repeatable")
	columns := fs.String("columns", "", "columns to print, comma-separated (default: every column)")
	asJSON := fs.Bool("json", false, "print one JSON object per row instead of a table")
	return func(ctx context.Context) error {
		if *specPath == "" || *table == "" || (len(*keys) == 0 && len(*tokens) == 0) {
			return job.Input(fmt.Errorf("--spec, --table and at least one --key or --token are required; e.g. pii decrypt --spec spec.yaml --table Customers --key 42"))
		}
		s, err := spec.LoadWith(*specPath, readSpecFile)
		if err != nil {
			return err
		}
		if !s.PII.Enabled() {
			return job.Input(fmt.Errorf("spec %s has no pii.tables: nothing is protected", *specPath))
		}
		db := s.Target.Database
		if err := target.Check(ctx, db); err != nil {
			return err
		}
		client, err := target.Client(ctx, db)
		if err != nil {
			return err
		}
		st, err := spannerTable(ctx, client, db, *table)
		if err != nil {
			return err
		}
		pt := pii.Table{Name: st.Name}
		for _, c := range st.Columns {
			pt.Columns = append(pt.Columns, c.Name)
		}
		for _, k := range st.PrimaryKey {
			pt.Key = append(pt.Key, colIndex(pt.Columns, k))
		}
		p, err := pii.New(ctx, *s.PII, []pii.Table{pt})
		if err != nil {
			return inputErr(err)
		}
		show, err := pickColumns(pt.Columns, *columns)
		if err != nil {
			return err
		}
		for i, tok := range *tokens {
			k, err := p.OpenKeyToken(st.Name, tok)
			if err != nil {
				return inputErr(fmt.Errorf("--token #%d: %w", i+1, err))
			}
			parts := make([]string, len(k))
			for j, v := range k {
				parts[j] = formatValue(v, "")
			}
			fmt.Fprintf(os.Stdout, "%s\t(%s)\n", tok, strings.Join(parts, ", "))
		}
		if len(*keys) == 0 {
			return nil
		}
		texts, err := keyTexts(*keys, os.Stdin)
		if err != nil {
			return err
		}
		var rows [][]any
		for i, text := range texts {
			row, err := findRow(ctx, client, p, st, pt, text, i+1)
			if err != nil {
				return err
			}
			if err := p.Reveal(st.Name, row); err != nil {
				return err
			}
			rows = append(rows, row)
		}
		printRows(os.Stdout, p, st, show, rows, *asJSON)
		return nil
	}
}

func spannerTable(ctx context.Context, c *spanner.Client, db, name string) (*schema.SpannerTable, error) {
	all, err := schema.ReadSpanner(ctx, c)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if strings.EqualFold(all[i].Name, name) {
			return &all[i], nil
		}
	}
	return nil, job.Input(fmt.Errorf("table %q is not in Spanner database %s; check --table", name, db))
}

func colIndex(cols []string, name string) int {
	for i, c := range cols {
		if strings.EqualFold(c, name) {
			return i
		}
	}
	return -1
}

func pickColumns(cols []string, list string) ([]int, error) {
	var out []int
	if strings.TrimSpace(list) == "" {
		for i := range cols {
			out = append(out, i)
		}
		return out, nil
	}
	for _, n := range strings.Split(list, ",") {
		i := colIndex(cols, strings.TrimSpace(n))
		if i < 0 {
			return nil, job.Input(fmt.Errorf("--columns: table has no column %q; its columns: %s", strings.TrimSpace(n), strings.Join(cols, ", ")))
		}
		out = append(out, i)
	}
	return out, nil
}

// keyTexts expands "-" into the lines of stdin.
func keyTexts(keys []string, stdin io.Reader) ([]string, error) {
	var out []string
	for _, k := range keys {
		if k != "-" {
			out = append(out, k)
			continue
		}
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			if l := strings.TrimRight(sc.Text(), "\r"); l != "" {
				out = append(out, l)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read keys from stdin: %v", err)
		}
	}
	return out, nil
}

// findRow parses a key given as text and reads its row. An unprotected key
// column's text is parsed as its Spanner type; a protected one's plaintext
// type is not in the Spanner schema (it is BYTES there), so every type the
// text parses as is tried — a handful of point reads at most.
func findRow(ctx context.Context, c *spanner.Client, p *pii.Protector, st *schema.SpannerTable, pt pii.Table, text string, n int) ([]any, error) {
	r := csv.NewReader(strings.NewReader(text))
	fields, err := r.Read()
	if err != nil || len(fields) != len(pt.Key) {
		names := make([]string, len(pt.Key))
		for i, k := range pt.Key {
			names[i] = pt.Columns[k]
		}
		return nil, job.Input(fmt.Errorf("--key #%d: give %d comma-separated values, for the key columns (%s)", n, len(pt.Key), strings.Join(names, ", ")))
	}
	cands := [][]any{{}}
	for i, f := range fields {
		col := st.Columns[pt.Key[i]]
		var opts []any
		if p.Policy(st.Name, col.Name).Keyed() {
			opts = plaintextCandidates(f)
		} else {
			v, err := parseTyped(f, col.Type)
			if err != nil {
				return nil, job.Input(fmt.Errorf("--key #%d: value %d is not a %s", n, i+1, col.Type))
			}
			opts = []any{v}
		}
		var next [][]any
		for _, c := range cands {
			for _, o := range opts {
				next = append(next, append(append([]any{}, c...), o))
			}
		}
		cands = next
	}
	for _, k := range cands {
		if err := p.ProtectKey(st.Name, k); err != nil {
			return nil, err
		}
		row, err := c.Single().ReadRow(ctx, st.Name, spanner.Key(k), pt.Columns)
		if spanner.ErrCode(err) == codes.NotFound {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %v", st.Name, spanner.ErrDesc(err))
		}
		return decodeRow(row, st)
	}
	return nil, fmt.Errorf("--key #%d: no row in %s with this key", n, st.Name)
}

// plaintextCandidates are the converter's values a text may stand for.
func plaintextCandidates(s string) []any {
	out := []any{s}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		out = append(out, n)
	}
	if d, err := civil.ParseDate(s); err == nil {
		out = append(out, d)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		out = append(out, t.UTC())
	}
	if r, ok := new(big.Rat).SetString(s); ok && strings.ContainsAny(s, ".") {
		out = append(out, r)
	}
	if b, ok := hexBytes(s); ok {
		out = append(out, b)
	} else {
		out = append(out, []byte(s))
	}
	return out
}

func hexBytes(s string) ([]byte, bool) {
	if !strings.HasPrefix(s, "0x") {
		return nil, false
	}
	b, err := hex.DecodeString(s[2:])
	return b, err == nil
}

// parseTyped parses a key text as the Spanner type of its column.
func parseTyped(s, typ string) (any, error) {
	switch {
	case typ == "INT64":
		return strconv.ParseInt(s, 10, 64)
	case typ == "BOOL":
		return strconv.ParseBool(s)
	case typ == "FLOAT64":
		return strconv.ParseFloat(s, 64)
	case typ == "FLOAT32":
		f, err := strconv.ParseFloat(s, 32)
		return float32(f), err
	case typ == "NUMERIC":
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			return nil, fmt.Errorf("not a number")
		}
		return r, nil
	case typ == "DATE":
		return civil.ParseDate(s)
	case typ == "TIMESTAMP":
		t, err := time.Parse(time.RFC3339Nano, s)
		return t.UTC(), err
	case strings.HasPrefix(typ, "BYTES"):
		if b, ok := hexBytes(s); ok {
			return b, nil
		}
		return []byte(s), nil
	}
	return s, nil
}

// decodeRow reads a row into the Go types the backfill writes (schema's
// decoder, by column type), so the associated data built from it matches.
func decodeRow(r *spanner.Row, st *schema.SpannerTable) ([]any, error) {
	out := make([]any, len(st.Columns))
	for i, c := range st.Columns {
		var err error
		if kind, ok := schema.SpannerTypeKind(c.Type); ok {
			out[i], err = schema.DecodeCell(r, i, kind)
			if t, isTime := out[i].(time.Time); isTime {
				out[i] = t.UTC()
			}
		} else {
			var v spanner.GenericColumnValue
			err = r.Column(i, &v)
			out[i] = v.Value.String()
		}
		if err != nil {
			return nil, fmt.Errorf("read column %s: %v", c.Name, err)
		}
	}
	return out, nil
}

func printRows(w io.Writer, p *pii.Protector, st *schema.SpannerTable, show []int, rows [][]any, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, row := range rows {
			obj := make(map[string]any, len(show))
			for _, i := range show {
				obj[st.Columns[i].Name] = jsonValue(row[i], p.Policy(st.Name, st.Columns[i].Name))
			}
			enc.Encode(obj)
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := make([]string, len(show))
	for j, i := range show {
		head[j] = st.Columns[i].Name
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, row := range rows {
		cells := make([]string, len(show))
		for j, i := range show {
			cells[j] = formatValue(row[i], p.Policy(st.Name, st.Columns[i].Name))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
}

// formatValue prints a cell exactly: hash cells as hash:HEX (one-way),
// bytes as 0xHEX, numbers in full, times in RFC 3339 UTC.
func formatValue(v any, policy pii.Policy) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		if policy == pii.PolicyHash {
			return "hash:" + hex.EncodeToString(x)
		}
		return "0x" + hex.EncodeToString(x)
	case string:
		if strings.ContainsAny(x, "\t\n\r") {
			return strconv.Quote(x)
		}
		return x
	case *big.Rat:
		return ratString(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case []string:
		b, _ := json.Marshal(x)
		return string(b)
	case spanner.NullJSON:
		b, _ := json.Marshal(x.Value)
		return string(b)
	}
	return fmt.Sprint(v)
}

func jsonValue(v any, policy pii.Policy) any {
	switch x := v.(type) {
	case []byte:
		return formatValue(x, policy)
	case *big.Rat, time.Time, civil.Date:
		return formatValue(x, policy)
	case spanner.NullJSON:
		return x.Value
	case float64, float32:
		return formatValue(x, policy)
	}
	return v
}

// ratString is the exact decimal of a NUMERIC (at most 9 fraction digits),
// or a/b if it has no finite decimal form.
func ratString(r *big.Rat) string {
	s := r.FloatString(9)
	if back, ok := new(big.Rat).SetString(s); ok && back.Cmp(r) == 0 {
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		return s
	}
	return r.RatString()
}
