CREATE TABLE emp (
  emp_id NUMBER(18) PRIMARY KEY,
  first_name VARCHAR2(100) NOT NULL,
  last_name VARCHAR2(100) NOT NULL,
  hired DATE,
  salary NUMBER(10, 2),
  updated_at TIMESTAMP WITH TIME ZONE
);
