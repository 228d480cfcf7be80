-- A light curve's columns become one type, xmm.lightcurve_bin, that xmm_lightcurve and
-- xmm_lightcurve_at return: their result type changes, so they are made again.
DROP FUNCTION xmm.xmm_lightcurve(bigint, double precision, jsonb);
DROP FUNCTION xmm.python_lightcurve(bigint, double precision, jsonb);
DROP FUNCTION xmm.xmm_lightcurve_at(double precision, double precision, double precision, jsonb);
DROP FUNCTION xmm.python_lightcurve_at(double precision, double precision, double precision, jsonb);
DROP FUNCTION xmm.xmm_lightcurve_plot(bigint, double precision, jsonb);
DROP FUNCTION xmm.python_lightcurve_plot(bigint, double precision, jsonb);
-- made again in this version: sql/57_timing_lightcurve.sql
