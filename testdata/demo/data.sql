-- Demo e-commerce data, generated deterministically in SQL (MariaDB).
-- Requires MariaDB's SEQUENCE engine (seq_1_to_N tables) and schema.sql loaded.
-- Pseudo-randomness comes from CRC32 of a per-row key, so every load yields
-- exactly the same rows:
--   customers 2000, products 500, orders 5000, order_items 12497.
SET NAMES utf8mb4;
SET time_zone = '+00:00';

-- ---------------------------------------------------------------- customers
INSERT INTO customers (id, email, name, phone, country, created_at, active, balance)
SELECT
  s.seq,
  CASE
    WHEN s.seq % 50 = 0 THEN CONCAT('first.last+tag', s.seq, '@example.org')
    ELSE CONCAT('customer', s.seq, '@example.com')
  END,
  CASE
    WHEN s.seq % 97 = 0 THEN CONCAT('Emoji Fan ', s.seq, ' 🚀🎉')
    WHEN s.seq % 101 = 0 THEN CONCAT('Quote O''Brien "', s.seq, '" back\\slash')
    ELSE CONCAT(
      ELT(1 + s.h % 12, 'Alice', 'José', 'Zoë', 'Søren', 'Мария', '李', 'Renée',
          'Bob', 'Chloé', 'Ørjan', 'Aiko', 'Đặng'),
      ' ',
      ELT(1 + (s.h DIV 12) % 10, 'Smith', 'García', 'Müller', 'Ñúñez', '王', 'Иванова',
          'Nakamura', 'O''Neil', 'Kowalski', 'Dupont'))
  END,
  IF(s.h % 5 = 0, NULL, CONCAT('+1-555-', LPAD(s.h % 10000, 4, '0'))),
  IF(s.h % 7 = 0, NULL, ELT(1 + (s.h DIV 7) % 6, 'US', 'DE', 'FR', 'JP', 'BR', 'IN')),
  CASE s.seq
    WHEN 1 THEN TIMESTAMP'2000-01-01 00:00:00.000000'
    WHEN 2 THEN TIMESTAMP'2038-01-19 03:14:08.999999'
    WHEN 3 THEN TIMESTAMP'1999-12-31 23:59:59.999999'
    ELSE TIMESTAMP'2020-01-01 00:00:00'
         + INTERVAL (s.h % 126144000) SECOND
         + INTERVAL ((s.h DIV 3) % 1000000) MICROSECOND
  END,
  IF(s.h % 10 = 0, 0, 1),
  CASE s.seq
    WHEN 4 THEN 9999999999.99
    WHEN 5 THEN -9999999999.99
    WHEN 6 THEN 0.01
    ELSE ((s.h DIV 11) % 2000000) / 100 - 5000
  END
FROM (SELECT seq, CRC32(CONCAT('c', seq)) AS h FROM seq_1_to_2000) AS s;

-- ---------------------------------------------------------------- products
-- ids are 10, 20, ..., 5000 (sparse on purpose).
INSERT INTO products (id, sku, name, description, price, weight, status)
SELECT
  s.seq * 10,
  CONCAT('SKU-', LPAD(s.seq, 5, '0')),
  CONCAT(
    ELT(1 + s.h % 8, 'Classic', 'Deluxe', 'Eco', 'Mini', 'Pro', 'Ultra', 'Vintage', 'Smart'),
    ' ',
    ELT(1 + (s.h DIV 8) % 10, 'Mug', 'T-Shirt', 'Lamp', 'Backpack', 'Notebook', 'Headphones',
        'Kettle', 'Umbrella', 'Sneakers', 'Teapot'),
    ' #', s.seq),
  CASE
    WHEN s.h % 6 = 0 THEN NULL
    WHEN s.h % 25 = 1 THEN REPEAT('Lorem ipsum dolor sit amet, consectetur adipiscing elit. ', 120)
    WHEN s.h % 5 = 2 THEN 'Größe: M — 100% Baumwolle ✓ · 尺寸：中 · 🧵'
    WHEN s.h % 5 = 3 THEN CONCAT('Line one\nLine two\ttabbed\nsku=', s.seq)
    WHEN s.h % 5 = 4 THEN ''
    ELSE CONCAT('A fine product number ', s.seq, '.')
  END,
  CASE s.seq
    WHEN 1 THEN 0.00
    WHEN 2 THEN 99999999.99
    ELSE 0.99 + (s.h % 50000) / 100
  END,
  CASE
    WHEN s.h % 9 = 0 THEN NULL
    WHEN s.seq = 3 THEN 1e-7
    WHEN s.seq = 4 THEN 123456789.125
    ELSE (s.h % 100000) / 1000 + 0.001
  END,
  CASE
    WHEN s.h % 10 < 7 THEN 'active'
    WHEN s.h % 10 < 9 THEN 'discontinued'
    ELSE 'draft'
  END
FROM (SELECT seq, CRC32(CONCAT('p', seq)) AS h FROM seq_1_to_500) AS s;

-- ---------------------------------------------------------------- orders
-- ids are 1000001 .. 1005000.
INSERT INTO orders (id, customer_id, ordered_at, ship_date, status, meta, token)
SELECT
  1000000 + s.seq,
  1 + s.h % 2000,
  s.ordered_at,
  IF(s.status IN ('pending', 'cancelled'), NULL,
     DATE(s.ordered_at) + INTERVAL (1 + s.h % 7) DAY),
  s.status,
  CASE
    WHEN s.h % 8 = 0 THEN NULL
    WHEN s.h % 8 = 1 THEN JSON_OBJECT()
    ELSE JSON_OBJECT(
      'channel', ELT(1 + (s.h DIV 8) % 3, 'web', 'app', 'phone'),
      'gift', (s.h DIV 3) % 2 = 0,
      'coupon', IF(s.h % 3 = 0, CONCAT('SAVE', s.h % 50), NULL),
      'shipping', JSON_OBJECT(
        'method', ELT(1 + (s.h DIV 5) % 3, 'standard', 'express', 'pickup'),
        'cost', ROUND(((s.h DIV 13) % 2000) / 100, 2),
        'address', JSON_OBJECT(
          'city', ELT(1 + (s.h DIV 17) % 5, 'Berlin', 'São Paulo', '東京', 'New York', 'Zürich'),
          'zip', LPAD((s.h DIV 19) % 100000, 5, '0'),
          'lines', JSON_ARRAY(CONCAT((s.h DIV 23) % 300, ' Main St'), IF(s.h % 4 = 0, 'Apt 5', NULL)))),
      'tags', IF(s.h % 5 = 0, JSON_ARRAY(), JSON_ARRAY('promo', CONCAT('batch-', s.seq % 7))),
      'note', IF(s.h % 11 = 0, 'Leave at the door 📦 — merci!', NULL))
  END,
  CASE
    WHEN s.seq = 1 THEN UNHEX('00000000000000000000000000000000')
    WHEN s.seq = 2 THEN UNHEX('FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF')
    WHEN s.h % 4 = 0 THEN NULL
    WHEN s.h % 13 = 0 THEN UNHEX(LEFT(MD5(CONCAT('tok', s.seq)), 8))
    ELSE UNHEX(MD5(CONCAT('tok', s.seq)))
  END
FROM (
  SELECT
    seq,
    h,
    TIMESTAMP'2021-01-01 00:00:00'
      + INTERVAL (h % 94608000) SECOND
      + INTERVAL ((h DIV 7) % 1000000) MICROSECOND AS ordered_at,
    ELT(1 + (h DIV 29) % 5, 'pending', 'paid', 'shipped', 'delivered', 'cancelled') AS status
  FROM (SELECT seq, CRC32(CONCAT('o', seq)) AS h FROM seq_1_to_5000) AS x
) AS s;

-- ---------------------------------------------------------------- order_items
-- 1..4 lines per order; unit_price is the product price, sometimes discounted.
INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price)
SELECT
  l.order_id,
  l.line_no,
  p.id,
  IF(l.h % 100 = 0, 1000, 1 + l.h % 5),
  IF(l.h % 7 = 0, ROUND(p.price * 0.9, 2), p.price)
FROM (
  SELECT
    1000000 + o.seq AS order_id,
    n.seq AS line_no,
    CRC32(CONCAT('i', o.seq, '-', n.seq)) AS h
  FROM seq_1_to_5000 AS o
  JOIN seq_1_to_4 AS n ON n.seq <= 1 + CRC32(CONCAT('n', o.seq)) % 4
) AS l
JOIN products AS p ON p.id = (1 + l.h % 500) * 10;

ANALYZE TABLE customers, products, orders, order_items;
