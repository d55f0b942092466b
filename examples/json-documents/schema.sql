CREATE TABLE IF NOT EXISTS users (id integer PRIMARY KEY, name text, city text, tags text, active boolean);
