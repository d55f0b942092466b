CREATE TABLE IF NOT EXISTS customers (id integer PRIMARY KEY, full_name text, tier text, email text);
