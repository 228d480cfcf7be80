-- Images of the photon store (for JS9): counts from all epochs on a TAN grid.
-- A PL/Python body behind a PL/pgSQL front that raises its errors as they are
-- (as the timing functions, sql/55_timing_barycentre.sql).

-- python front: xmmdb.photons.image.counts_image(db, ra, dec, size_arcmin, bin_arcsec, options)
CREATE FUNCTION xmm.xmm_image(ra double precision, "dec" double precision, size_arcmin double precision,
                              bin_arcsec double precision, options jsonb DEFAULT '{}')
RETURNS bytea STABLE;

COMMENT ON FUNCTION xmm.xmm_image(double precision, double precision, double precision, double precision, jsonb) IS
  'FITS counts image (bytea) of size_arcmin x size_arcmin in bin_arcsec pixels centred on (ra, dec), all epochs; '
  'options: emin, emax (eV), tmin, tmax (TT s), obs_id, instrument';
