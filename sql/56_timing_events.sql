-- OGIP event files of a source (xmmdb.timing.eventfile, docs/timing.md).

CREATE FUNCTION xmm.python_extract_events(srcid bigint, radius_arcsec double precision, options jsonb)
RETURNS bytea
LANGUAGE plpython3u STABLE SET search_path = xmm, public, pg_temp AS $$
GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
from xmmdb.pg import Spi, call; from xmmdb.timing.api import extract_events
return call(plpy, extract_events, Spi(plpy), srcid, radius_arcsec, options, notice=plpy.notice)
$$;

CREATE FUNCTION xmm.xmm_extract_events(srcid bigint, radius_arcsec double precision DEFAULT NULL,
                                       options jsonb DEFAULT '{}')
RETURNS bytea
LANGUAGE plpgsql STABLE SET search_path = xmm, public, pg_temp AS $$
DECLARE msg text; hint text; state text; ctx text;
BEGIN
  RETURN xmm.python_extract_events(srcid, radius_arcsec, options);
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE,
                          ctx = PG_EXCEPTION_CONTEXT;
  PERFORM xmm.raise_error(msg, hint, state, ctx);
END $$;

COMMENT ON FUNCTION xmm.xmm_extract_events(bigint, double precision, jsonb) IS
  'FITS event file (OGIP: EVENTS, one GTI extension per exposure, STDGTI their union) of the photons within '
  'radius_arcsec (default 20-40" by flux) of a source, all epochs; options: obs_id, instrument, emin, emax (eV), '
  'barycenter (TIME/GTIs in TDB at the solar-system barycentre, JPL DE421)';
