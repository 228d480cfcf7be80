-- Fitting any stored spectrum: a user's own SAS spectrum, a spectrum of an
-- observation that is not in the catalogue, or one pipeline spectrum among
-- several, by its spectrum_id (find it in xmm.spectrum by file, obs_id or
-- position). Same models, options and result as xmm_fit; not cached (the cache
-- is per detection, and such a spectrum may have none).
--   xmm_fit_spectrum(spectrum_id, model, options)       -> xmm.fit_result
--   xmm_fit_spectrum_plot(spectrum_id, model, options)  -> PNG

-- python: xmmdb.spectral.store.fit_spectrum_row(db, spectrum_id, model, options)
CREATE FUNCTION xmm.fit_spectrum_compute(spectrum_id bigint, model text, options jsonb)
RETURNS xmm.fit_result VOLATILE;

-- python: xmmdb.spectral.store.fit_spectrum_png(db, spectrum_id, model, options)
CREATE FUNCTION xmm.fit_spectrum_png(spectrum_id bigint, model text, options jsonb)
RETURNS bytea VOLATILE;

CREATE FUNCTION xmm.xmm_fit_spectrum(spectrum_id bigint, model text, options jsonb DEFAULT '{}')
RETURNS xmm.fit_result
LANGUAGE plpgsql VOLATILE SET search_path = xmm, public, pg_temp AS $$
DECLARE
  res xmm.fit_result;
  msg text; hint text; state text; ctx text;
BEGIN
  PERFORM xmm.fit_options(options);
  BEGIN
    res := xmm.fit_spectrum_compute(spectrum_id, lower(trim(coalesce(model, ''))),
                                    coalesce(options, '{}') - 'refit' - 'joint');
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE,
                            ctx = PG_EXCEPTION_CONTEXT;
    PERFORM xmm.raise_error(msg, hint, state, ctx);
  END;
  res.cached := false;
  res.fitted_at := clock_timestamp();
  RETURN res;
END $$;

CREATE FUNCTION xmm.xmm_fit_spectrum_plot(spectrum_id bigint, model text, options jsonb DEFAULT '{}')
RETURNS bytea
LANGUAGE plpgsql VOLATILE SET search_path = xmm, public, pg_temp AS $$
DECLARE
  msg text; hint text; state text; ctx text;
BEGIN
  PERFORM xmm.fit_options(options);
  RETURN xmm.fit_spectrum_png(spectrum_id, lower(trim(coalesce(model, ''))),
                              coalesce(options, '{}') - 'refit' - 'joint');
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE,
                          ctx = PG_EXCEPTION_CONTEXT;
  PERFORM xmm.raise_error(msg, hint, state, ctx);
END $$;

COMMENT ON FUNCTION xmm.xmm_fit_spectrum(bigint, text, jsonb) IS
  'Fits any stored source spectrum (xmm.spectrum.spectrum_id) with its background and responses, with Sherpa';
COMMENT ON FUNCTION xmm.xmm_fit_spectrum_plot(bigint, text, jsonb) IS
  'PNG of the fit of any stored source spectrum: counts/s/keV with errors, folded model, residuals in sigma';
