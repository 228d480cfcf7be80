-- Barycentring (xmmdb.timing, docs/timing.md): TDB-TT, Roemer delay with JPL
-- DE421 (offline, from skyfield-data), the spacecraft position from the loaded
-- orbit file, the observer's Einstein term and the Sun's Shapiro delay.
--
-- Each timing function is a PL/Python body (xmm.python_*) behind a PL/pgSQL
-- front that raises its errors as they are (xmm.raise_error: no Python type
-- prefix, no traceback).

-- python front: xmmdb.timing.api.barycentre_times(db, times, ra, dec, obs_id, notice=notice)
CREATE FUNCTION xmm.xmm_barycentre(times double precision[], ra double precision, "dec" double precision,
                                   obs_id text DEFAULT NULL)
RETURNS double precision[] STABLE;

COMMENT ON FUNCTION xmm.xmm_barycentre(double precision[], double precision, double precision, text) IS
  'Event times (TT s since MJDREF 50814) at the solar-system barycentre (TDB s since MJDREF 50814) for a source '
  'at ra, dec (deg, ICRS): JPL DE421, the orbit of obs_id (without one: the geocentre, ~0.4 s off, with a NOTICE)';
