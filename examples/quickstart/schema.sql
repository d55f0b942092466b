-- The target table of the quickstart (the module checks that it exists; it does not create tables).
CREATE TABLE IF NOT EXISTS emp (
  first_name TEXT NOT NULL,
  last_name  TEXT NOT NULL,
  address    TEXT,
  gender     TEXT,
  PRIMARY KEY (first_name, last_name)
);
