-- Light curves of a source (xmmdb.timing.lightcurve, docs/timing.md).

CREATE FUNCTION xmm.python_lightcurve(srcid bigint, bin_s double precision, options jsonb)
RETURNS TABLE ("time" double precision, rate double precision, error double precision,
               fracexp double precision, obs_id text)
LANGUAGE plpython3u STABLE SET search_path = xmm, public, pg_temp AS $$
GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
from xmmdb.pg import Spi, call; from xmmdb.timing.api import lightcurve
return call(plpy, lightcurve, Spi(plpy), srcid, bin_s, options, notice=plpy.notice)
$$;

CREATE FUNCTION xmm.xmm_lightcurve(srcid bigint, bin_s double precision, options jsonb DEFAULT '{}')
RETURNS TABLE ("time" double precision, rate double precision, error double precision,
               fracexp double precision, obs_id text)
LANGUAGE plpgsql STABLE SET search_path = xmm, public, pg_temp AS $$
DECLARE msg text; hint text; state text; ctx text;
BEGIN
  RETURN QUERY SELECT * FROM xmm.python_lightcurve(srcid, bin_s, options);
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE,
                          ctx = PG_EXCEPTION_CONTEXT;
  PERFORM xmm.raise_error(msg, hint, state, ctx);
END $$;

COMMENT ON FUNCTION xmm.xmm_lightcurve(bigint, double precision, jsonb) IS
  'Background-subtracted, GTI-aware light curve (count/s summed over exposures) in bins of bin_s seconds: '
  'time = bin centre (TT s since MJDREF 50814, TDB if barycentred), fracexp = GTI fraction of the bin; options: '
  'obs_id, instrument, emin, emax, radius, background, bkg_inner, bkg_outer (arcsec), min_fracexp, barycenter';

CREATE FUNCTION xmm.python_lightcurve_plot(srcid bigint, bin_s double precision, options jsonb)
RETURNS bytea
LANGUAGE plpython3u STABLE SET search_path = xmm, public, pg_temp AS $$
GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
from xmmdb.pg import Spi, call; from xmmdb.timing.api import lightcurve_plot
return call(plpy, lightcurve_plot, Spi(plpy), srcid, bin_s, options, notice=plpy.notice)
$$;

CREATE FUNCTION xmm.xmm_lightcurve_plot(srcid bigint, bin_s double precision, options jsonb DEFAULT '{}')
RETURNS bytea
LANGUAGE plpgsql STABLE SET search_path = xmm, public, pg_temp AS $$
DECLARE msg text; hint text; state text; ctx text;
BEGIN
  RETURN xmm.python_lightcurve_plot(srcid, bin_s, options);
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE,
                          ctx = PG_EXCEPTION_CONTEXT;
  PERFORM xmm.raise_error(msg, hint, state, ctx);
END $$;

COMMENT ON FUNCTION xmm.xmm_lightcurve_plot(bigint, double precision, jsonb) IS
  'PNG of xmm_lightcurve(srcid, bin_s, options): one panel per observation, with the scaled background';
