-- Variability tests on the photons of a source or of any position (xmmdb.timing.variability,
-- docs/timing.md).

-- python front: xmmdb.timing.api.variability_tests(db, srcid, options, notice=notice)
CREATE FUNCTION xmm.xmm_variability(srcid bigint, options jsonb DEFAULT '{}')
RETURNS TABLE (obs_id text, instrument text, test text, statistic double precision, probability double precision,
               n_photons integer, detail jsonb) STABLE;

COMMENT ON FUNCTION xmm.xmm_variability(bigint, jsonb) IS
  'Does a source vary? Within each observation: ks, kuiper and Bayesian blocks of its photons against a constant '
  'rate through the GTIs (the background annulus''s probability in detail); between observations, per instrument: '
  'chi2 and fvar of the net rates; options: obs_id, instrument, emin, emax, radius, background, bkg_inner, '
  'bkg_outer, p0 and the event selection';

-- The same at a position (a transient, a source below the catalogue's limit): the region is
-- 20" unless {"radius": …}. Its own name: an overload of xmm_variability(srcid, options) would
-- take a client's untyped (srcid, options) for (ra, dec).
-- python front: xmmdb.timing.api.variability_tests(db, (ra, dec), options, notice=notice)
CREATE FUNCTION xmm.xmm_variability_at(ra double precision, "dec" double precision, options jsonb DEFAULT '{}')
RETURNS TABLE (obs_id text, instrument text, test text, statistic double precision, probability double precision,
               n_photons integer, detail jsonb) STABLE;

COMMENT ON FUNCTION xmm.xmm_variability_at(double precision, double precision, jsonb) IS
  'Does the position (RA, Dec in degrees) vary? The tests of xmm_variability(srcid) on the photons within '
  'radius (20") of it';
