-- Type-zoo rows. Session: utf8mb4, time_zone '+00:00' (TIMESTAMPs below are UTC).
-- Rows 1-4 copy; rows 10-18 carry one bad value each (see the test for
-- the expected dead letters; row 17's bad cell is nulled by on_invalid: null).
SET NAMES utf8mb4;
SET time_zone = '+00:00';
SET sql_mode = 'NO_ENGINE_SUBSTITUTION';

-- 1: minimum of every type
INSERT INTO typezoo (id, t_bool, t_boolean, t_tiny, t_tiny_u, t_small, t_small_u, t_med, t_med_u, t_int, t_int_u, t_big, t_big_u,
  t_dec, t_dec_small, t_dec_wide, t_dec_num, t_float, t_double, t_bit1, t_bit5, t_bit64,
  t_char, t_varchar, t_latin1, t_tinytext, t_text, t_mediumtext, t_longtext, t_enum, t_set, t_json,
  t_binary, t_varbinary, t_tinyblob, t_blob, t_mediumblob, t_longblob, t_blobtext,
  t_date, t_datetime, t_timestamp, t_ts_null, t_time, t_time6, t_year, t_geom, t_point, t_enum_mixed, t_set_mixed)
VALUES (1, 0, FALSE, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
  '-99999999999999999999999999999.999999999', -99999999.99,
  '-99999999999999999999999999999999999.999999999999999999999999999999',
  '-12345678901234567890123456789.123456789', -3.402823466e38, -1.7976931348623157e308, b'0', b'00000', b'0',
  '', '', '', '', '', '', '', '', '', '[]',
  X'00000000', X'', X'00', X'00', X'00', X'00', '',
  '0001-01-01', '0001-01-01 00:00:00.000000', '1970-01-01 00:00:01.000000', '1970-01-01 00:00:01', '-838:59:59', '-838:59:59.000000', 1901,
  ST_GeomFromText('POINT(0 0)'), ST_GeomFromText('POINT(-180 -90)'), 'Red', '');

-- 2: maximum of every type
INSERT INTO typezoo (id, t_bool, t_boolean, t_tiny, t_tiny_u, t_small, t_small_u, t_med, t_med_u, t_int, t_int_u, t_big, t_big_u,
  t_dec, t_dec_small, t_dec_wide, t_dec_num, t_float, t_double, t_bit1, t_bit5, t_bit64,
  t_char, t_varchar, t_latin1, t_tinytext, t_text, t_mediumtext, t_longtext, t_enum, t_set, t_json,
  t_binary, t_varbinary, t_tinyblob, t_blob, t_mediumblob, t_longblob, t_blobtext,
  t_date, t_datetime, t_timestamp, t_ts_null, t_time, t_time6, t_year, t_geom, t_point, t_enum_mixed, t_set_mixed)
VALUES (2, 1, TRUE, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615,
  '99999999999999999999999999999.999999999', 99999999.99,
  '99999999999999999999999999999999999.999999999999999999999999999999',
  '99999999999999999999999999999.999999999', 3.402823466e38, 1.7976931348623157e308, b'1', b'11111', X'FFFFFFFFFFFFFFFF',
  'ZZZZZZZZZZ', REPEAT('é', 255), 'ÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿ', REPEAT('t', 255), 'text', 'mediumtext', 'longtext', 'large', ',a,b,c',
  '{"b": [1, 2.5, true, null, -9223372036854775808, 18446744073709551615], "a": {"nested": "ünïcødé 😀", "esc": "tab\\there"}}',
  X'FFFFFFFF', X'00FF00FF00FF00FF00FF00FF00FF00FF', X'FF00', X'00FF00', X'000000', X'0000000000', 'max',
  '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '2038-01-19 03:14:07', '838:59:59', '838:59:59.000000', 2155,
  ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0))'), ST_GeomFromText('POINT(180 90)'),
  'trail', 'Red,Dark Blue,Green,Ünï,it''s,back\\slash,trail,😀x');

-- 3: NULL in every nullable column
INSERT INTO typezoo (id) VALUES (3);

-- 4: special values: emoji, latin1 accents, 0x00 inside BLOBs, the SET's
-- empty member alone, the ENUM's empty member, small magnitudes
INSERT INTO typezoo (id, t_bool, t_tiny, t_int_u, t_big_u, t_dec, t_dec_small, t_dec_wide, t_dec_num, t_float, t_double,
  t_bit1, t_bit5, t_bit64, t_char, t_varchar, t_latin1, t_text, t_longtext, t_enum, t_set, t_json,
  t_binary, t_varbinary, t_blob, t_blobtext, t_date, t_datetime, t_timestamp, t_time, t_time6, t_year, t_geom, t_point, t_small,
  t_enum_mixed, t_set_mixed)
VALUES (4, 1, 0, 1, 9223372036854775808, '0.000000001', 0.01, '0.000000000000000000000000000001', '1.500000000000000000000000000000',
  1.17549435e-38, 2.2250738585072014e-308,
  b'1', b'10101', X'0000000000000001', 'a', 'emoji 😀👍🏽 and 中文', 'café crème àéîõü', 'snowman ☃ and 𝄞', 'line1\nline2\ttab',
  '', 1, '"just a string ✓"',
  X'6100', X'00', X'0000FF0000', 'plain text ✓', '2024-02-29', '2024-02-29 12:34:56.123456', '2000-01-01 00:00:00.000001',
  '00:00:00', '-00:00:00.500000', 0, ST_GeomFromText('LINESTRING(0 0,1 1,2 1.5)'), ST_GeomFromText('POINT(1.5 -2.25)'), 21,
  '😀 emoji', 'back\\slash,😀x,Dark Blue');

-- 10..18: one bad value each
INSERT INTO typezoo (id, t_date) VALUES (10, '0000-00-00');
INSERT INTO typezoo (id, t_datetime) VALUES (11, '2020-00-15 10:00:00');
INSERT INTO typezoo (id, t_blobtext) VALUES (12, X'C328');
INSERT INTO typezoo (id, t_dec_num) VALUES (13, '1.123456789012345678901234567890');
INSERT INTO typezoo (id, t_longblob) VALUES (14, REPEAT('x', 10485761));
INSERT INTO typezoo (id, t_json) VALUES (15, '{"n": 2.2412421353246235436}');
INSERT INTO typezoo (id, t_bool) VALUES (16, 2);
INSERT INTO typezoo (id, t_ts_null, t_int) VALUES (17, '0000-00-00 00:00:00', 17);
INSERT INTO typezoo (id, t_json) VALUES (18, '{"a": 1, "a": 2}');

INSERT INTO zoo_parent (code, tag, created) VALUES ('p1', NULL, '2024-01-01 00:00:00'), ('p2', 't', '2024-01-02 00:00:00');
INSERT INTO zoo_child (parent_id, seq, note) VALUES (1, 1, 'first'), (1, 2, NULL), (2, 1, 'x');
