-- Barycentring (xmmdb.timing, docs/timing.md): TDB-TT, Roemer delay with JPL
-- DE421 (offline, from skyfield-data), the spacecraft position from the loaded
-- orbit file, the observer's Einstein term and the Sun's Shapiro delay.

CREATE FUNCTION xmm.xmm_barycenter(times double precision[], ra double precision, "dec" double precision,
                                   obs_id text DEFAULT NULL)
RETURNS double precision[]
LANGUAGE plpython3u STABLE SET search_path = xmm, public, pg_temp AS $$
GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
from xmmdb.pg import Spi, call; from xmmdb.timing.api import barycenter_times
return call(plpy, barycenter_times, Spi(plpy), times, ra, dec, obs_id, notice=plpy.notice)
$$;

COMMENT ON FUNCTION xmm.xmm_barycenter(double precision[], double precision, double precision, text) IS
  'Event times (TT s since MJDREF 50814) at the solar-system barycentre (TDB s since MJDREF 50814) for a source '
  'at ra, dec (deg, ICRS): JPL DE421, the orbit of obs_id (without one: the geocentre, ~0.4 s off, with a NOTICE)';
