-- A small sample database in the style of public sample schemas (sakila):
-- ENUM/SET with mixed-case members, YEAR, TEXT, GEOMETRY, a FULLTEXT and a
-- SPATIAL index, a prefix index on TEXT, composite keys, foreign keys with
-- ON UPDATE CASCADE, an interleavable parent/child pair (rental ←
-- rental_line: the child's key starts with the parent's, a foreign key
-- links them), a trigger that keeps a copy table in sync, a view, a stored
-- procedure, a function and an event.
-- Loaded by cmd/livemigrate/objects_test.go; data in data.sql.
SET NAMES utf8mb4;

CREATE TABLE film (
  film_id          SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT,
  title            VARCHAR(128) NOT NULL,
  description      TEXT,
  release_year     YEAR,
  rating           ENUM('G','PG','PG-13','R','NC-17') DEFAULT 'G',
  special_features SET('Trailers','Commentaries','Deleted Scenes','Behind the Scenes'),
  PRIMARY KEY (film_id),
  KEY idx_title (title),
  FULLTEXT KEY idx_title_description (title, description)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE film_text (
  film_id     SMALLINT NOT NULL,
  title       VARCHAR(255) NOT NULL,
  description TEXT,
  PRIMARY KEY (film_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE store (
  store_id TINYINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name     VARCHAR(50) NOT NULL,
  location GEOMETRY NOT NULL,
  PRIMARY KEY (store_id),
  SPATIAL KEY idx_location (location)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE rental (
  rental_id INT NOT NULL,
  store_id  TINYINT UNSIGNED NOT NULL,
  customer  VARCHAR(45) NOT NULL,
  rented_at DATETIME NOT NULL,
  PRIMARY KEY (rental_id),
  CONSTRAINT fk_rental_store FOREIGN KEY (store_id) REFERENCES store (store_id) ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE rental_line (
  rental_id INT NOT NULL,
  line_no   SMALLINT NOT NULL,
  film_id   SMALLINT UNSIGNED NOT NULL,
  amount    DECIMAL(5,2) NOT NULL,
  PRIMARY KEY (rental_id, line_no),
  KEY idx_line_film (film_id),
  CONSTRAINT fk_line_rental FOREIGN KEY (rental_id) REFERENCES rental (rental_id) ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT fk_line_film FOREIGN KEY (film_id) REFERENCES film (film_id) ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE note (
  id   INT NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (id),
  KEY idx_body (body(200))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE VIEW film_list AS SELECT film_id, title, rating FROM film;

CREATE TRIGGER ins_film AFTER INSERT ON film FOR EACH ROW
  INSERT INTO film_text (film_id, title, description) VALUES (NEW.film_id, NEW.title, NEW.description);

CREATE PROCEDURE rentals_of(IN who VARCHAR(45)) READS SQL DATA
  SELECT * FROM rental WHERE customer = who;

CREATE FUNCTION film_count() RETURNS INT READS SQL DATA
  RETURN (SELECT COUNT(*) FROM film);

CREATE EVENT purge_notes ON SCHEDULE EVERY 1 DAY DO DELETE FROM note WHERE id < 0;
