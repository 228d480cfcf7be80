-- The PL/Python bodies built from one template (setup/build_extension.py).
-- python: xmmdb.spectral.store.fit_spectrum_row(db, spectrum_id, model, options)
CREATE OR REPLACE FUNCTION xmm.fit_spectrum_compute(spectrum_id bigint, model text, options jsonb)
RETURNS xmm.fit_result VOLATILE;

-- python: xmmdb.spectral.store.fit_spectrum_png(db, spectrum_id, model, options)
CREATE OR REPLACE FUNCTION xmm.fit_spectrum_png(spectrum_id bigint, model text, options jsonb)
RETURNS bytea VOLATILE;
