-- ADQL (docs/adql.md): an ADQL 2.0/2.1 subset translated to PostgreSQL with
-- Q3C, under the search language's safety rules (xmmdb.sqlsafe). The TAP
-- service runs the text xmm_adql returns in a read-only transaction;
-- xmm_adql_run runs it here and returns each row as a json object.

-- The PostgreSQL SELECT an ADQL query becomes, e.g.
--   xmm_adql('SELECT TOP 5 iauname FROM xmm.source WHERE CONTAINS(POINT(''ICRS'', sc_ra, sc_dec),
--             CIRCLE(''ICRS'', 148.97, 69.68, 0.05)) = 1')
-- python front: xmmdb.adql.to_sql(db, query)
CREATE FUNCTION xmm.xmm_adql(query text)
RETURNS text STABLE;
COMMENT ON FUNCTION xmm.xmm_adql(text) IS
  'The PostgreSQL (Q3C) SELECT an ADQL query becomes (see docs/adql.md)';

-- The rows of an ADQL query, one json object each (keys in the order of the
-- SELECT list; a web layer or script needs no column definition list).
CREATE FUNCTION xmm.xmm_adql_run(query text) RETURNS SETOF json
LANGUAGE plpgsql STABLE SET search_path = xmm, public, pg_temp AS $$
BEGIN
  RETURN QUERY EXECUTE 'SELECT row_to_json(q) FROM (' || xmm.xmm_adql(query) || ') AS q';
END $$;
COMMENT ON FUNCTION xmm.xmm_adql_run(text) IS
  'Runs an ADQL query (docs/adql.md) and returns its rows as json objects';
