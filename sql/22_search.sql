-- The search language (docs/search.md) and the name resolver: thin bodies
-- over xmmdb.search. The SQL a query becomes reads only whitelisted columns,
-- quotes every literal and uses the Q3C index for cones.

-- Errors for humans: the Python side returns an XmmError as data (message,
-- hint, SQLSTATE) and xmm.raise_error raises it as it is.

CREATE FUNCTION xmm.search_sql(q text, target text,
                               OUT result text, OUT message text, OUT hint text, OUT sqlstate text)
LANGUAGE plpython3u VOLATILE SET search_path = xmm, public, pg_temp AS $$
try:
    GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
except plpy.SPIError as exc:   # the boot's error (no lib dir, another release) as data too
    return {'result': None, 'message': exc.args[0], 'hint': (exc.spidata or [None] * 3)[2], 'sqlstate': exc.sqlstate}
from xmmdb.pg import Spi; from xmmdb.sqlsafe import outcome; from xmmdb.search import to_sql
return outcome(to_sql, Spi(plpy), q, target)
$$;

-- The SELECT a query becomes: xmm_to_sql('M82 AND is_ulx').
-- target: 'source' (as xmm_search) or 'detection' (as xmm_search_detections).
CREATE FUNCTION xmm.xmm_to_sql(q text, target text DEFAULT 'source') RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = xmm, public, pg_temp AS $$
DECLARE r record;
BEGIN
  r := xmm.search_sql(q, target);
  PERFORM xmm.raise_error(r.message, r.hint, r.sqlstate);
  RETURN r.result;
END $$;
COMMENT ON FUNCTION xmm.xmm_to_sql(text, text) IS
  'The SQL a search-language query becomes (see docs/search.md), e.g. xmm_to_sql(''M82 AND is_ulx'')';

-- The rows never pass through Python: PL/pgSQL runs the query, straight
-- into the function's result (no SQL wrapper: one materialisation).
CREATE FUNCTION xmm.xmm_search(q text) RETURNS SETOF xmm.source
LANGUAGE plpgsql VOLATILE SET search_path = xmm, public, pg_temp AS $$
BEGIN RETURN QUERY EXECUTE xmm.xmm_to_sql(q, 'source'); END $$;
COMMENT ON FUNCTION xmm.xmm_search(text) IS
  'Sources matching a search-language query (docs/search.md), e.g. xmm_search(''M82 AND is_ulx'')';

CREATE FUNCTION xmm.xmm_search_detections(q text) RETURNS SETOF xmm.detection
LANGUAGE plpgsql VOLATILE SET search_path = xmm, public, pg_temp AS $$
BEGIN RETURN QUERY EXECUTE xmm.xmm_to_sql(q, 'detection'); END $$;
COMMENT ON FUNCTION xmm.xmm_search_detections(text) IS
  'Detections matching a search-language query (cones on the detection position ra, dec)';

-- Name or coordinates -> position, offline (OpenNGC, xmm.name_cache, catalogue
-- IAU names, observation targets); CDS Sesame only with SET xmm.sesame = on.
-- One row, or none when the name is unknown. (The argument is unnamed: a
-- parameter may not share the name of an output column.)
CREATE FUNCTION xmm.python_resolve(text)
RETURNS TABLE (name text, ra double precision, "dec" double precision, origin text)
LANGUAGE plpython3u VOLATILE SET search_path = xmm, public, pg_temp AS $$
GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
from xmmdb.pg import Spi, call; from xmmdb.search import resolve_rows
return call(plpy, resolve_rows, Spi(plpy), args[0])
$$;

CREATE FUNCTION xmm.xmm_resolve(text)
RETURNS TABLE (name text, ra double precision, "dec" double precision, origin text)
LANGUAGE plpgsql VOLATILE SET search_path = xmm, public, pg_temp AS $$
DECLARE msg text; hint text; state text; ctx text;
BEGIN
  RETURN QUERY SELECT * FROM xmm.python_resolve($1);
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE,
                          ctx = PG_EXCEPTION_CONTEXT;
  PERFORM xmm.raise_error(msg, hint, state, ctx);
END $$;
COMMENT ON FUNCTION xmm.xmm_resolve(text) IS
  'Position of a name (M 31, NGC 0224, 4XMM J..., an observation target) or of written coordinates, offline';
