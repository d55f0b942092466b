CREATE TABLE IF NOT EXISTS orders (id integer PRIMARY KEY, customer text, line_count integer);
CREATE TABLE IF NOT EXISTS order_lines (order_id integer, line_no integer, sku text, qty integer,
                                        PRIMARY KEY (order_id, line_no));
