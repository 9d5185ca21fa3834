-- The type zoo: every MySQL/MariaDB column type livemigrate maps, plus two
-- tables with foreign keys, unique and secondary indexes and AUTO_INCREMENT
-- (listed child first, so the DDL must reorder them).
-- Loaded by cmd/livemigrate/typezoo_test.go; data in data.sql.
SET NAMES utf8mb4;
SET FOREIGN_KEY_CHECKS = 0;

CREATE TABLE zoo_child (
  parent_id  BIGINT      NOT NULL,
  seq        INT         NOT NULL,
  note       VARCHAR(50) NULL,
  PRIMARY KEY (parent_id, seq),
  KEY idx_child_note (note),
  CONSTRAINT fk_child_parent FOREIGN KEY (parent_id) REFERENCES zoo_parent (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE typezoo (
  id            INT NOT NULL,
  t_bool        TINYINT(1) NULL,
  t_boolean     BOOLEAN NULL,
  t_tiny        TINYINT NULL,
  t_tiny_u      TINYINT UNSIGNED NULL,
  t_small       SMALLINT NULL,
  t_small_u     SMALLINT UNSIGNED NULL,
  t_med         MEDIUMINT NULL,
  t_med_u       MEDIUMINT UNSIGNED NULL,
  t_int         INT NULL,
  t_int_u       INT UNSIGNED NULL,
  t_big         BIGINT NULL,
  t_big_u       BIGINT UNSIGNED NULL,
  t_dec         DECIMAL(38,9) NULL,
  t_dec_small   DECIMAL(10,2) NULL,
  t_dec_wide    DECIMAL(65,30) NULL,
  t_dec_num     DECIMAL(65,30) NULL,
  t_float       FLOAT NULL,
  t_double      DOUBLE NULL,
  t_bit1        BIT(1) NULL,
  t_bit5        BIT(5) NULL,
  t_bit64       BIT(64) NULL,
  t_char        CHAR(10) NULL,
  t_varchar     VARCHAR(255) NULL,
  t_latin1      VARCHAR(20) CHARACTER SET latin1 NULL,
  t_tinytext    TINYTEXT NULL,
  t_text        TEXT NULL,
  t_mediumtext  MEDIUMTEXT NULL,
  t_longtext    LONGTEXT NULL,
  t_enum        ENUM('','small','large') NULL,
  t_set         SET('','a','b','c') NULL,
  -- Members keep their case, spaces and bytes; MySQL trims trailing spaces
  -- ('trail  ' is the member 'trail'); the emoji is outside the BMP, which
  -- MariaDB's definition text shows as '?'.
  t_enum_mixed  ENUM('Red','Dark Blue','Ünïcødé','it''s','back\\slash','trail  ','a,b','😀 emoji') NULL,
  t_set_mixed   SET('Red','Dark Blue','Green','Ünï','it''s','back\\slash','trail  ','😀x') NULL,
  t_json        JSON NULL,
  t_binary      BINARY(4) NULL,
  t_varbinary   VARBINARY(16) NULL,
  t_tinyblob    TINYBLOB NULL,
  t_blob        BLOB NULL,
  t_mediumblob  MEDIUMBLOB NULL,
  t_longblob    LONGBLOB NULL,
  t_blobtext    VARBINARY(64) NULL,
  t_date        DATE NULL,
  t_datetime    DATETIME(6) NULL,
  t_timestamp   TIMESTAMP(6) NULL DEFAULT NULL,
  t_ts_null     TIMESTAMP NULL DEFAULT NULL,
  t_time        TIME NULL,
  t_time6       TIME(6) NULL,
  t_year        YEAR NULL,
  t_geom        GEOMETRY NULL,
  t_point       POINT NULL,
  t_gen         INT AS (t_small * 2) VIRTUAL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_zoo_char (t_char),
  KEY idx_zoo_varchar (t_varchar),
  KEY idx_zoo_set (t_set)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE zoo_parent (
  id       BIGINT      NOT NULL AUTO_INCREMENT,
  code     VARCHAR(20) NOT NULL,
  tag      VARCHAR(20) NULL,
  created  DATETIME    NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_parent_code (code),
  UNIQUE KEY uq_parent_tag (tag),
  KEY idx_parent_created (created)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
SET FOREIGN_KEY_CHECKS = 1;
