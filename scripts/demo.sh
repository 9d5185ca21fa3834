#!/usr/bin/env bash
# Demo: load the sample shop (testdata/demo) into the private MariaDB, create
# the Spanner schema in the emulator and backfill it. Run via `make demo`
# (which starts the stack and builds bin/livemigrate first).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

STACK_DIR="${STACK_DIR:-$PWD/.stack}"
# shellcheck disable=SC1091
. "${LM_STACK_DIR:-$STACK_DIR}/env"

DEMO_DIR=testdata/demo
SPEC="$DEMO_DIR/spec.yaml"
REPORT="$LM_STACK_DIR/demo-report.json"
DB="${LM_MYSQL_DATABASE:-demo}"

mysql_root() {
  mariadb --no-defaults --protocol=socket --socket="$LM_MYSQL_SOCKET" \
    -u"${LM_MYSQL_ADMIN_USER:-root}" --default-character-set=utf8mb4 "$@"
}

echo "demo: loading $DEMO_DIR/schema.sql + data.sql into MySQL database '$DB'" >&2
t0=$SECONDS
mysql_root -e "DROP DATABASE IF EXISTS \`$DB\`; CREATE DATABASE \`$DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;"
mysql_root "$DB" <"$DEMO_DIR/schema.sql"
mysql_root "$DB" <"$DEMO_DIR/data.sql" >/dev/null  # ANALYZE TABLE output
mysql_root "$DB" -t -e "
  SELECT 'customers' AS tbl, COUNT(*) AS \`rows\` FROM customers
  UNION ALL SELECT 'products', COUNT(*) FROM products
  UNION ALL SELECT 'orders', COUNT(*) FROM orders
  UNION ALL SELECT 'order_items', COUNT(*) FROM order_items;"
echo "demo: MySQL loaded in $((SECONDS - t0))s" >&2

[ -f "$SPEC" ] || { echo "demo: $SPEC not found (not written yet)" >&2; exit 1; }

# A fresh Spanner database each time, so the demo shows a full backfill.
rest="${LM_SPANNER_EMULATOR_REST:-http://127.0.0.1:19020}"
curl -fsS -X DELETE "$rest/v1/$LM_SPANNER_DATABASE" >/dev/null 2>&1 || true
curl -fsS -X POST "$rest/v1/projects/$LM_SPANNER_PROJECT/instances/$LM_SPANNER_INSTANCE/databases" \
  -H 'Content-Type: application/json' -d '{"createStatement":"CREATE DATABASE `'"${LM_SPANNER_DATABASE##*/}"'`"}' >/dev/null

# The demo spec protects personal columns; its keyset lives with the stack.
if [ ! -f "$LM_STACK_DIR/demo-keyset.json" ]; then
  echo "demo: creating a development keyset (keys in clear; production uses a KMS-wrapped one)" >&2
  bin/livemigrate keys create --insecure-cleartext --keyset "$LM_STACK_DIR/demo-keyset.json" >/dev/null
fi

echo "demo: creating the Spanner tables" >&2
bin/livemigrate plan --spec "$SPEC" --apply
echo "demo: backfilling on Prism" >&2
bin/livemigrate backfill --spec "$SPEC" --report-json "$REPORT" --dead-letter "$LM_STACK_DIR/demo-dead-letters" --chunk-rows 2000
echo "demo: adding the foreign keys now that the rows are in" >&2
bin/livemigrate plan --spec "$SPEC" --apply --foreign-keys=only
echo "demo: backfill report written to $REPORT" >&2
