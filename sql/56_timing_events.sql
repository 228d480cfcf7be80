-- OGIP event files of a source (xmmdb.timing.eventfile, docs/timing.md).

CREATE FUNCTION xmm.xmm_extract_events(srcid bigint, radius_arcsec double precision DEFAULT NULL,
                                       options jsonb DEFAULT '{}')
RETURNS bytea
LANGUAGE plpython3u STABLE SET search_path = xmm, public, pg_temp AS $$
GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
from xmmdb.pg import Spi, call; from xmmdb.timing.api import extract_events
return call(plpy, extract_events, Spi(plpy), srcid, radius_arcsec, options, notice=plpy.notice)
$$;

COMMENT ON FUNCTION xmm.xmm_extract_events(bigint, double precision, jsonb) IS
  'FITS event file (OGIP: EVENTS, one GTI extension per exposure, STDGTI their union) of the photons within '
  'radius_arcsec (default 20-40" by flux) of a source, all epochs; options: obs_id, instrument, emin, emax (eV), '
  'barycenter (TIME/GTIs in TDB at the solar-system barycentre, JPL DE421)';
