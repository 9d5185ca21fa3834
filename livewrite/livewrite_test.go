package livewrite_test

import (
	"math/big"
	"testing"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"

	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/livewrite"
	"github.com/livemigrate/livemigrate/target"
)

// TestNumericKeyAsPointer: an application that holds a DECIMAL (or BIGINT
// UNSIGNED) key as *big.Rat — the form the client takes in a row — can
// upsert and delete it: the shadow read and the tombstone use the key part
// the client accepts (big.Rat), and the caller's key is not modified.
func TestNumericKeyAsPointer(t *testing.T) {
	ctx := testenv.Context(t)
	e := testenv.New(t)
	if err := target.ApplyDDL(ctx, e.SpannerDB, []string{
		`CREATE TABLE prices (sku NUMERIC NOT NULL, v STRING(MAX)) PRIMARY KEY (sku)`,
		`CREATE TABLE lm_shadow_prices (sku NUMERIC NOT NULL, lm_deleted BOOL NOT NULL, lm_commit_ts TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true)) PRIMARY KEY (sku)`,
	}); err != nil {
		t.Fatal(err)
	}
	c, err := target.Client(ctx, e.SpannerDB)
	if err != nil {
		t.Fatal(err)
	}
	w, err := livewrite.New(c, livewrite.Table{Name: "prices", Columns: []string{"sku", "v"}, Key: []string{"sku"}})
	if err != nil {
		t.Fatal(err)
	}
	sku, _ := new(big.Rat).SetString("12345678901234567890.25")
	if err := w.Upsert(ctx, "prices", []any{sku, "a"}); err != nil {
		t.Fatalf("upsert with a *big.Rat key: %v", err)
	}
	key := spanner.Key{*sku}
	row, err := c.Single().ReadRow(ctx, "prices", key, []string{"v"})
	if err != nil {
		t.Fatalf("the row is not there: %v", err)
	}
	var v string
	if err := row.Column(0, &v); err != nil || v != "a" {
		t.Fatalf("v = %q (%v)", v, err)
	}
	ptrKey := spanner.Key{sku}
	if err := w.Delete(ctx, "prices", ptrKey); err != nil {
		t.Fatalf("delete with a *big.Rat key: %v", err)
	}
	if _, ok := ptrKey[0].(*big.Rat); !ok {
		t.Fatal("Delete modified the caller's key")
	}
	if _, err := c.Single().ReadRow(ctx, "prices", key, []string{"v"}); spanner.ErrCode(err) != codes.NotFound {
		t.Fatalf("the row survived the delete: %v", err)
	}
	mark, err := c.Single().ReadRow(ctx, "lm_shadow_prices", key, []string{"lm_deleted"})
	if err != nil {
		t.Fatalf("no tombstone: %v", err)
	}
	var deleted bool
	if err := mark.Column(0, &deleted); err != nil || !deleted {
		t.Fatalf("tombstone lm_deleted = %v (%v)", deleted, err)
	}
}
