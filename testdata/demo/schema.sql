-- Demo e-commerce schema (MariaDB / MySQL source side).
-- Load into an empty database: mariadb demo < schema.sql && mariadb demo < data.sql
SET NAMES utf8mb4;

CREATE TABLE customers (
  id          BIGINT        NOT NULL AUTO_INCREMENT,
  email       VARCHAR(255)  NOT NULL,
  name        VARCHAR(200)  NOT NULL,
  phone       VARCHAR(32)   NULL,
  country     CHAR(2)       NULL,
  created_at  DATETIME(6)   NOT NULL,
  active      TINYINT(1)    NOT NULL DEFAULT 1,
  balance     DECIMAL(12,2) NOT NULL DEFAULT 0.00,
  PRIMARY KEY (id),
  UNIQUE KEY uq_customers_email (email),
  KEY idx_customers_created_at (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE products (
  id           INT            NOT NULL,
  sku          VARCHAR(32)    NOT NULL,
  name         VARCHAR(200)   NOT NULL,
  description  TEXT           NULL,
  price        DECIMAL(10,2)  NOT NULL,
  weight       DOUBLE         NULL,
  status       ENUM('active','discontinued','draft') NOT NULL DEFAULT 'active',
  PRIMARY KEY (id),
  UNIQUE KEY uq_products_sku (sku)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE orders (
  id           BIGINT        NOT NULL,
  customer_id  BIGINT        NOT NULL,
  ordered_at   DATETIME(6)   NOT NULL,
  ship_date    DATE          NULL,
  status       VARCHAR(20)   NOT NULL,
  meta         JSON          NULL,
  token        VARBINARY(16) NULL,
  PRIMARY KEY (id),
  KEY idx_orders_customer (customer_id),
  KEY idx_orders_ordered_at (ordered_at),
  CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE order_items (
  order_id    BIGINT         NOT NULL,
  line_no     INT            NOT NULL,
  product_id  INT            NOT NULL,
  quantity    INT            NOT NULL,
  unit_price  DECIMAL(10,2)  NOT NULL,
  PRIMARY KEY (order_id, line_no),
  KEY idx_order_items_product (product_id),
  CONSTRAINT fk_order_items_order FOREIGN KEY (order_id) REFERENCES orders (id),
  CONSTRAINT fk_order_items_product FOREIGN KEY (product_id) REFERENCES products (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
