-- Barycentring (xmmdb.timing, docs/timing.md): TDB-TT, Roemer delay with JPL
-- DE421 (offline, from skyfield-data), the spacecraft position from the loaded
-- orbit file, the observer's Einstein term and the Sun's Shapiro delay.
--
-- Each timing function is a PL/Python body (xmm.python_*) behind a PL/pgSQL
-- front that raises its errors as they are (xmm.raise_error: no Python type
-- prefix, no traceback).

CREATE FUNCTION xmm.python_barycenter(times double precision[], ra double precision, "dec" double precision,
                                      obs_id text)
RETURNS double precision[]
LANGUAGE plpython3u STABLE SET search_path = xmm, public, pg_temp AS $$
GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
from xmmdb.pg import Spi, call; from xmmdb.timing.api import barycenter_times
return call(plpy, barycenter_times, Spi(plpy), times, ra, dec, obs_id, notice=plpy.notice)
$$;

CREATE FUNCTION xmm.xmm_barycenter(times double precision[], ra double precision, "dec" double precision,
                                   obs_id text DEFAULT NULL)
RETURNS double precision[]
LANGUAGE plpgsql STABLE SET search_path = xmm, public, pg_temp AS $$
DECLARE msg text; hint text; state text; ctx text;
BEGIN
  RETURN xmm.python_barycenter(times, ra, "dec", obs_id);
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE,
                          ctx = PG_EXCEPTION_CONTEXT;
  PERFORM xmm.raise_error(msg, hint, state, ctx);
END $$;

COMMENT ON FUNCTION xmm.xmm_barycenter(double precision[], double precision, double precision, text) IS
  'Event times (TT s since MJDREF 50814) at the solar-system barycentre (TDB s since MJDREF 50814) for a source '
  'at ra, dec (deg, ICRS): JPL DE421, the orbit of obs_id (without one: the geocentre, ~0.4 s off, with a NOTICE)';
