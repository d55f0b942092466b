CREATE TABLE emp (
  emp_id BIGINT PRIMARY KEY,
  first_name VARCHAR(100) NOT NULL,
  last_name VARCHAR(100) NOT NULL,
  hired DATE,
  salary DECIMAL(10, 2),
  updated_at TIMESTAMP NULL
);
