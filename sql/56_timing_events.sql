-- OGIP event files of a source (xmmdb.timing.eventfile, docs/timing.md).

-- python front: xmmdb.timing.api.extract_events(db, srcid, radius_arcsec, options, notice=notice)
CREATE FUNCTION xmm.xmm_extract_events(srcid bigint, radius_arcsec double precision DEFAULT NULL,
                                       options jsonb DEFAULT '{}')
RETURNS bytea STABLE;

COMMENT ON FUNCTION xmm.xmm_extract_events(bigint, double precision, jsonb) IS
  'FITS event file (OGIP: EVENTS, one GTI extension per exposure, STDGTI their union) of the photons within '
  'radius_arcsec (default 20-40" by flux) of a source, all epochs; options: obs_id, instrument, emin, emax (eV), '
  'barycentre (TIME/GTIs in TDB at the solar-system barycentre, JPL DE421)';

-- The same at a position (the web's extraction circle moved off the catalogue position): its
-- own name, never an overload (clients send untyped parameters).
-- python front: xmmdb.timing.api.extract_events(db, (ra, dec), radius_arcsec, options, notice=notice)
CREATE FUNCTION xmm.xmm_extract_events_at(ra double precision, "dec" double precision,
                                          radius_arcsec double precision DEFAULT NULL, options jsonb DEFAULT '{}')
RETURNS bytea STABLE;

COMMENT ON FUNCTION xmm.xmm_extract_events_at(double precision, double precision, double precision, jsonb) IS
  'FITS event file of the photons within radius_arcsec (20") of a position (RA, Dec in degrees), all epochs; '
  'the options of xmm_extract_events';
