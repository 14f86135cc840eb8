"""PostgreSQL access for BBX: one module per aggregate; SQL text lives in include/sql/."""
