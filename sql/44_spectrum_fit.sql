-- Fitting any stored spectrum: a user's own SAS spectrum, a spectrum of an
-- observation that is not in the catalogue, or one pipeline spectrum among
-- several, by its spectrum_id (find it in xmm.spectrum by file, obs_id or
-- position). Same models, options and result as xmm_fit; not cached (the cache
-- is per detection, and such a spectrum may have none).
--   xmm_fit_spectrum(spectrum_id, model, options)       -> xmm.fit_result
--   xmm_fit_spectrum_plot(spectrum_id, model, options)  -> PNG

-- python front: xmmdb.spectral.store.fit_spectrum_row(db, spectrum_id, model, options)
CREATE FUNCTION xmm.xmm_fit_spectrum(spectrum_id bigint, model text, options jsonb DEFAULT '{}')
RETURNS xmm.fit_result VOLATILE;

-- python front: xmmdb.spectral.store.fit_spectrum_png(db, spectrum_id, model, options)
CREATE FUNCTION xmm.xmm_fit_spectrum_plot(spectrum_id bigint, model text, options jsonb DEFAULT '{}')
RETURNS bytea VOLATILE;

COMMENT ON FUNCTION xmm.xmm_fit_spectrum(bigint, text, jsonb) IS
  'Fits any stored source spectrum (xmm.spectrum.spectrum_id) with its background and responses, with Sherpa';
COMMENT ON FUNCTION xmm.xmm_fit_spectrum_plot(bigint, text, jsonb) IS
  'PNG of the fit of any stored source spectrum: counts/s/keV with errors, folded model, residuals in sigma';
