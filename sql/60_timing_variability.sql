-- Variability tests on the photons of a source or of any position (xmmdb.timing.variability,
-- docs/timing.md).

CREATE FUNCTION xmm.python_variability(srcid bigint, options jsonb)
RETURNS TABLE (obs_id text, instrument text, test text, statistic double precision, probability double precision,
               n_photons integer, detail jsonb)
LANGUAGE plpython3u STABLE SET search_path = xmm, public, pg_temp AS $$
GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
from xmmdb.pg import Spi, call; from xmmdb.timing.api import variability_tests
return call(plpy, variability_tests, Spi(plpy), srcid, options, notice=plpy.notice)
$$;

CREATE FUNCTION xmm.xmm_variability(srcid bigint, options jsonb DEFAULT '{}')
RETURNS TABLE (obs_id text, instrument text, test text, statistic double precision, probability double precision,
               n_photons integer, detail jsonb)
LANGUAGE plpgsql STABLE SET search_path = xmm, public, pg_temp AS $$
DECLARE msg text; hint text; state text; ctx text;
BEGIN
  RETURN QUERY SELECT * FROM xmm.python_variability(srcid, options);
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE,
                          ctx = PG_EXCEPTION_CONTEXT;
  PERFORM xmm.raise_error(msg, hint, state, ctx);
END $$;

COMMENT ON FUNCTION xmm.xmm_variability(bigint, jsonb) IS
  'Does a source vary? Within each observation: ks, kuiper and Bayesian blocks of its photons against a constant '
  'rate through the GTIs (the background annulus''s probability in detail); between observations, per instrument: '
  'chi2 and fvar of the net rates; options: obs_id, instrument, emin, emax, radius, background, bkg_inner, '
  'bkg_outer, p0 and the event selection';

-- The same at a position (a transient, a source below the catalogue's limit): the region is
-- 20" unless {"radius": …}. Its own name: an overload of xmm_variability(srcid, options) would
-- take a client's untyped (srcid, options) for (ra, dec).
CREATE FUNCTION xmm.python_variability_at(ra double precision, "dec" double precision, options jsonb)
RETURNS TABLE (obs_id text, instrument text, test text, statistic double precision, probability double precision,
               n_photons integer, detail jsonb)
LANGUAGE plpython3u STABLE SET search_path = xmm, public, pg_temp AS $$
GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
from xmmdb.pg import Spi, call; from xmmdb.timing.api import variability_tests
return call(plpy, variability_tests, Spi(plpy), (ra, dec), options, notice=plpy.notice)
$$;

CREATE FUNCTION xmm.xmm_variability_at(ra double precision, "dec" double precision, options jsonb DEFAULT '{}')
RETURNS TABLE (obs_id text, instrument text, test text, statistic double precision, probability double precision,
               n_photons integer, detail jsonb)
LANGUAGE plpgsql STABLE SET search_path = xmm, public, pg_temp AS $$
DECLARE msg text; hint text; state text; ctx text;
BEGIN
  RETURN QUERY SELECT * FROM xmm.python_variability_at(ra, "dec", options);
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE,
                          ctx = PG_EXCEPTION_CONTEXT;
  PERFORM xmm.raise_error(msg, hint, state, ctx);
END $$;

COMMENT ON FUNCTION xmm.xmm_variability_at(double precision, double precision, jsonb) IS
  'Does the position (RA, Dec in degrees) vary? The tests of xmm_variability(srcid) on the photons within '
  'radius (20") of it';
