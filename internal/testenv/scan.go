package testenv

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"cloud.google.com/go/spanner"
	sppb "cloud.google.com/go/spanner/apiv1/spannerpb"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/types/known/structpb"
)

// FindInSpanner reads every cell of every table of the database — data,
// shadow and progress tables alike — and returns "table.column" for each
// cell that holds one of needles, compared as text in STRING, JSON and
// array cells and as bytes in BYTES cells (decoded from their wire form).
// It also returns how many cells it read, so a caller can see it looked.
func FindInSpanner(t testing.TB, ctx context.Context, c *spanner.Client, needles ...string) (hits []string, cells int) {
	t.Helper()
	var tables []string
	it := c.Single().Query(ctx, spanner.Statement{SQL: "SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = ''"})
	err := it.Do(func(r *spanner.Row) error {
		var n string
		if err := r.Columns(&n); err != nil {
			return err
		}
		tables = append(tables, n)
		return nil
	})
	if err != nil {
		t.Fatalf("list Spanner tables: %v", err)
	}
	for _, tb := range tables {
		it := c.Single().Query(ctx, spanner.Statement{SQL: "SELECT * FROM `" + tb + "`"})
		for {
			r, err := it.Next()
			if err == iterator.Done {
				break
			}
			if err != nil {
				t.Fatalf("scan %s: %v", tb, err)
			}
			for i, name := range r.ColumnNames() {
				var g spanner.GenericColumnValue
				if err := r.Column(i, &g); err != nil {
					t.Fatalf("scan %s.%s: %v", tb, name, err)
				}
				cells++
				for _, raw := range cellBytes(g.Type, g.Value) {
					for _, n := range needles {
						if bytes.Contains(raw, []byte(n)) || bytes.Contains(bytes.ToLower(raw), []byte(strings.ToLower(n))) {
							hits = append(hits, fmt.Sprintf("%s.%s", tb, name))
						}
					}
				}
			}
		}
		it.Stop()
	}
	return hits, cells
}

// cellBytes gives the content of a cell as byte strings: BYTES decoded from
// base64, everything else in its wire text.
func cellBytes(typ *sppb.Type, v *structpb.Value) [][]byte {
	if v == nil {
		return nil
	}
	if lv := v.GetListValue(); lv != nil {
		var out [][]byte
		for _, e := range lv.Values {
			out = append(out, cellBytes(typ.GetArrayElementType(), e)...)
		}
		return out
	}
	s, ok := v.Kind.(*structpb.Value_StringValue)
	if !ok {
		return [][]byte{[]byte(v.String())}
	}
	if typ.GetCode() == sppb.TypeCode_BYTES {
		b, err := base64.StdEncoding.DecodeString(s.StringValue)
		if err == nil {
			return [][]byte{b, []byte(s.StringValue)}
		}
	}
	return [][]byte{[]byte(s.StringValue)}
}
