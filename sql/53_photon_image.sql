-- Images of the photon store (for JS9): counts from all epochs on a TAN grid.

CREATE FUNCTION xmm.xmm_image(ra double precision, "dec" double precision, size_arcmin double precision,
                              bin_arcsec double precision, options jsonb DEFAULT '{}')
RETURNS bytea LANGUAGE plpython3u STABLE SET search_path = xmm, public, pg_temp AS $$
GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
from xmmdb.pg import Spi, call; from xmmdb.photons.image import counts_image
return call(plpy, counts_image, Spi(plpy), ra, dec, size_arcmin, bin_arcsec, options)
$$;
COMMENT ON FUNCTION xmm.xmm_image(double precision, double precision, double precision, double precision, jsonb) IS
  'FITS counts image (bytea) of size_arcmin x size_arcmin in bin_arcsec pixels centred on (ra, dec), all epochs; '
  'options: emin, emax (eV), tmin, tmax (TT s), obs_id, instrument';
