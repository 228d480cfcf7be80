-- One spelling (British) at the user surface: xmm_barycenter is now xmm_barycentre.
DROP FUNCTION xmm.xmm_barycenter(double precision[], double precision, double precision, text);
DROP FUNCTION xmm.python_barycenter(double precision[], double precision, double precision, text);
-- functions of sql/55_timing_barycentre.sql
