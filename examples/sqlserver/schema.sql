CREATE TABLE dbo.emp (
  emp_id BIGINT PRIMARY KEY,
  first_name NVARCHAR(100) NOT NULL,
  last_name NVARCHAR(100) NOT NULL,
  hired DATE,
  salary DECIMAL(10, 2),
  updated_at DATETIMEOFFSET
);
