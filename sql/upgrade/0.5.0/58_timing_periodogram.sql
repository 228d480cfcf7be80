-- Periodograms with an fdot grid (best_fdot), coherent combination of close observations and
-- compute threads.
DROP FUNCTION xmm.xmm_periodogram(bigint, double precision, double precision, jsonb);
DROP FUNCTION xmm.python_periodogram(bigint, double precision, double precision, jsonb);
-- functions of sql/58_timing_periodogram.sql
