-- Fitting a stored spectrum: generated fronts over the fitting package (it checks the options and
-- the model's spelling), in place of hand-written fronts over separately named bodies.
DROP FUNCTION xmm.xmm_fit_spectrum(bigint, text, jsonb);
DROP FUNCTION xmm.xmm_fit_spectrum_plot(bigint, text, jsonb);
DROP FUNCTION xmm.fit_spectrum_compute(bigint, text, jsonb);
DROP FUNCTION xmm.fit_spectrum_png(bigint, text, jsonb);
-- functions of sql/44_spectrum_fit.sql
