-- Light curves of a source (xmmdb.timing.lightcurve, docs/timing.md).

-- A bin of a light curve: the rows of xmm_lightcurve and xmm_lightcurve_at.
CREATE TYPE xmm.lightcurve_bin AS ("time" double precision, rate double precision, error double precision,
                                   fracexp double precision, obs_id text);
COMMENT ON TYPE xmm.lightcurve_bin IS
  'A light-curve bin: time = bin centre (TT s since MJDREF 50814, TDB if barycentred), rate and error '
  '(count/s, background-subtracted), fracexp = GTI fraction of the bin, obs_id';

-- python front: xmmdb.timing.api.lightcurve(db, srcid, bin_s, options, notice=notice)
CREATE FUNCTION xmm.xmm_lightcurve(srcid bigint, bin_s double precision, options jsonb DEFAULT '{}')
RETURNS SETOF xmm.lightcurve_bin STABLE;

COMMENT ON FUNCTION xmm.xmm_lightcurve(bigint, double precision, jsonb) IS
  'Background-subtracted, GTI-aware light curve (count/s summed over exposures) in bins of bin_s seconds: '
  'time = bin centre (TT s since MJDREF 50814, TDB if barycentred), fracexp = GTI fraction of the bin; options: '
  'obs_id, instrument, emin, emax, radius, background, bkg_inner, bkg_outer (arcsec), min_fracexp, barycentre';

-- python front: xmmdb.timing.api.lightcurve_plot(db, srcid, bin_s, options, notice=notice)
CREATE FUNCTION xmm.xmm_lightcurve_plot(srcid bigint, bin_s double precision, options jsonb DEFAULT '{}')
RETURNS bytea STABLE;

COMMENT ON FUNCTION xmm.xmm_lightcurve_plot(bigint, double precision, jsonb) IS
  'PNG of xmm_lightcurve(srcid, bin_s, options): one panel per observation, with the scaled background';

-- The same at a position (RA, Dec in degrees): its own name, never an overload.
-- python front: xmmdb.timing.api.lightcurve(db, (ra, dec), bin_s, options, notice=notice)
CREATE FUNCTION xmm.xmm_lightcurve_at(ra double precision, "dec" double precision, bin_s double precision,
                                      options jsonb DEFAULT '{}')
RETURNS SETOF xmm.lightcurve_bin STABLE;

COMMENT ON FUNCTION xmm.xmm_lightcurve_at(double precision, double precision, double precision, jsonb) IS
  'xmm_lightcurve at a position (RA, Dec in degrees): the photons within radius (20") of it, the same options';
