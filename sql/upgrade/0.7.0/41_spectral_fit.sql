-- The PL/Python bodies built from one template (setup/build_extension.py).
-- python: xmmdb.spectral.store.fit_detection_row(db, detid, instrument, model, options)
CREATE OR REPLACE FUNCTION xmm.fit_compute(detid bigint, instrument text, model text, options jsonb)
RETURNS xmm.fit_result VOLATILE;

-- python: xmmdb.spectral.store.fit_detection_png(db, detid, instrument, model, options)
CREATE OR REPLACE FUNCTION xmm.fit_plot_png(detid bigint, instrument text, model text, options jsonb)
RETURNS bytea VOLATILE;
