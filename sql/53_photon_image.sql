-- Images of the photon store (for JS9): counts from all epochs on a TAN grid.
-- A PL/Python body behind a PL/pgSQL front that raises its errors as they are
-- (as the timing functions, sql/55_timing_barycenter.sql).

CREATE FUNCTION xmm.python_image(ra double precision, "dec" double precision, size_arcmin double precision,
                                 bin_arcsec double precision, options jsonb)
RETURNS bytea LANGUAGE plpython3u STABLE SET search_path = xmm, public, pg_temp AS $$
GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
from xmmdb.pg import Spi, call; from xmmdb.photons.image import counts_image
return call(plpy, counts_image, Spi(plpy), ra, dec, size_arcmin, bin_arcsec, options)
$$;

CREATE FUNCTION xmm.xmm_image(ra double precision, "dec" double precision, size_arcmin double precision,
                              bin_arcsec double precision, options jsonb DEFAULT '{}')
RETURNS bytea LANGUAGE plpgsql STABLE SET search_path = xmm, public, pg_temp AS $$
DECLARE msg text; hint text; state text; ctx text;
BEGIN
  RETURN xmm.python_image(ra, "dec", size_arcmin, bin_arcsec, options);
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE,
                          ctx = PG_EXCEPTION_CONTEXT;
  PERFORM xmm.raise_error(msg, hint, state, ctx);
END $$;

COMMENT ON FUNCTION xmm.xmm_image(double precision, double precision, double precision, double precision, jsonb) IS
  'FITS counts image (bytea) of size_arcmin x size_arcmin in bin_arcsec pixels centred on (ra, dec), all epochs; '
  'options: emin, emax (eV), tmin, tmax (TT s), obs_id, instrument';
