-- Rows for testdata/objects. film_text is filled by the ins_film trigger.
-- Rental 999 has a zero DATETIME, so the backfill dead-letters it and then
-- its interleaved rental_line rows (their parent row is missing in Spanner).
SET NAMES utf8mb4;
SET sql_mode = 'NO_ENGINE_SUBSTITUTION';

INSERT INTO film (title, description, release_year, rating, special_features)
SELECT CONCAT('Film ', seq, IF(seq % 3 = 0, ' Ünïcødé', '')),
       IF(seq % 5 = 0, NULL, CONCAT('A ', ELT(1 + seq % 3, 'Epic', 'Quiet', 'Brisk'), ' story ', REPEAT('of Dark Blue skies ', seq % 4))),
       IF(seq % 7 = 0, NULL, 1990 + seq),
       ELT(1 + seq % 5, 'G', 'PG', 'PG-13', 'R', 'NC-17'),
       ELT(1 + seq % 4, '', 'Trailers', 'Deleted Scenes,Behind the Scenes', 'Trailers,Commentaries,Deleted Scenes,Behind the Scenes')
FROM seq_1_to_25;

INSERT INTO store (name, location) VALUES
  ('Lethbridge', ST_GeomFromText('POINT(-112.8 49.7)')),
  ('Woodridge', ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 1,0 0))'));

INSERT INTO rental (rental_id, store_id, customer, rented_at)
SELECT seq, 1 + seq % 2, CONCAT('Customer ', seq % 7), TIMESTAMP('2024-01-01 10:00:00') + INTERVAL seq HOUR FROM seq_1_to_40;
INSERT INTO rental (rental_id, store_id, customer, rented_at) VALUES (999, 1, 'Zero Date', '0000-00-00 00:00:00');

INSERT INTO rental_line (rental_id, line_no, film_id, amount)
SELECT r.seq, l.seq, 1 + (r.seq * l.seq) % 25, 0.99 + l.seq FROM seq_1_to_40 r JOIN seq_1_to_3 l;
INSERT INTO rental_line (rental_id, line_no, film_id, amount) VALUES (999, 1, 1, 1.00), (999, 2, 2, 2.00);

INSERT INTO note (id, body) VALUES (1, 'short'), (2, REPEAT('long text ', 50));
