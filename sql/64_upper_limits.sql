-- Fluxes and upper limits at any position from the photons and exposure maps, and
-- long-term light curves that mix the catalogue's detections with them
-- (xmmdb.photons.limits, docs/upper-limits.md).

-- python front: xmmdb.photons.limits.upper_limits(db, ra, dec, options)
CREATE FUNCTION xmm.xmm_upper_limit(ra double precision, "dec" double precision, options jsonb DEFAULT '{}')
RETURNS TABLE (obs_id text, instrument text, exp_id text, band smallint, emin real, emax real, mjd double precision,
               offaxis double precision, radius double precision, psf_fraction double precision, counts integer,
               bkg_counts integer, bkg_ratio double precision, exposure double precision, exposure_from text,
               rate double precision, rate_err double precision, rate_upper double precision, ecf double precision,
               flux double precision, flux_err double precision, flux_upper double precision,
               confidence double precision, detid bigint, catalogue_flux real, catalogue_flux_err real) STABLE;

COMMENT ON FUNCTION xmm.xmm_upper_limit(double precision, double precision, jsonb) IS
  'Aperture photometry at (ra, dec) deg in every loaded exposure that saw it, per camera and band: counts in an '
  'aperture holding eef (0.7) of a point source, background annulus, exposure (map or on-time), PSF-corrected '
  'rate, its error and Bayesian upper limit (Kraft, Burrows & Nousek 1991) at the confidence (0.9), and fluxes '
  '(erg/cm2/s) through the camera''s canned responses for an absorbed power law; options: bands ([8]), '
  'confidence, eef, radius, bkg_inner, bkg_outer (arcsec), gamma (1.7), nh (3e20 cm-2), obs_id, instrument and '
  'the event selection';

-- python front: xmmdb.photons.limits.long_term_lightcurve(db, srcid, options)
CREATE FUNCTION xmm.xmm_long_term_lightcurve(srcid bigint, options jsonb DEFAULT '{}')
RETURNS TABLE (obs_id text, mjd double precision, date timestamptz, band smallint, detected boolean, detid bigint,
               flux double precision, flux_err double precision, flux_upper double precision,
               confidence double precision, counts integer, exposure double precision, measured_from text) STABLE;

COMMENT ON FUNCTION xmm.xmm_long_term_lightcurve(bigint, jsonb) IS
  'Every observation whose field holds the source, oldest first, per band: the catalogue flux of its detection, '
  'else flux and upper limit from the photons of all cameras (xmm_upper_limit), else measured_from = '
  '''not loaded''; options: those of xmm_upper_limit';

-- The same at any position (a transient, an optical counterpart): a detection within
-- match (10") arcsec counts as the position's. Its own name, as xmm_variability_at.
-- python front: xmmdb.photons.limits.long_term_lightcurve(db, (ra, dec), options)
CREATE FUNCTION xmm.xmm_long_term_lightcurve_at(ra double precision, "dec" double precision, options jsonb DEFAULT '{}')
RETURNS TABLE (obs_id text, mjd double precision, date timestamptz, band smallint, detected boolean, detid bigint,
               flux double precision, flux_err double precision, flux_upper double precision,
               confidence double precision, counts integer, exposure double precision, measured_from text) STABLE;

COMMENT ON FUNCTION xmm.xmm_long_term_lightcurve_at(double precision, double precision, jsonb) IS
  'Every observation whose field holds (ra, dec) deg, oldest first, per band: the flux of a catalogue detection '
  'within match (10") arcsec, else flux and upper limit from the photons, else measured_from = ''not loaded''';
