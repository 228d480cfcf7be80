-- The translation's errors take the one path of every front (xmm_adql over
-- xmm.python_adql), not a row of data.
DROP FUNCTION xmm.adql_sql(text);
-- functions of sql/30_adql.sql
