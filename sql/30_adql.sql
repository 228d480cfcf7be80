-- ADQL (docs/adql.md): an ADQL 2.0/2.1 subset translated to PostgreSQL with
-- Q3C, under the search language's safety rules (xmmdb.sqlsafe). The TAP
-- service runs the text xmm_adql returns in a read-only transaction;
-- xmm_adql_run runs it here and returns each row as a json object.

CREATE FUNCTION xmm.adql_sql(query text, OUT result text, OUT message text, OUT hint text, OUT sqlstate text)
LANGUAGE plpython3u VOLATILE SET search_path = xmm, public, pg_temp AS $$
try:
    GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
except plpy.SPIError as exc:   # the boot's error (no lib dir, another release) as data too
    return {'result': None, 'message': exc.args[0], 'hint': (exc.spidata or [None] * 3)[2], 'sqlstate': exc.sqlstate}
from xmmdb.pg import Spi; from xmmdb.sqlsafe import outcome; from xmmdb.adql import to_sql
return outcome(to_sql, Spi(plpy), query)
$$;

-- The PostgreSQL SELECT an ADQL query becomes, e.g.
--   xmm_adql('SELECT TOP 5 iauname FROM xmm.source WHERE CONTAINS(POINT(''ICRS'', sc_ra, sc_dec),
--             CIRCLE(''ICRS'', 148.97, 69.68, 0.05)) = 1')
CREATE FUNCTION xmm.xmm_adql(query text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = xmm, public, pg_temp AS $$
DECLARE r record;
BEGIN
  r := xmm.adql_sql(query);
  PERFORM xmm.raise_error(r.message, r.hint, r.sqlstate);
  RETURN r.result;
END $$;
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
