-- Periodograms corrected for the GTIs' phase exposure, reporting the fundamental among
-- the peak's harmonic relatives (candidates) and how epochs were combined.
DROP FUNCTION xmm.xmm_periodogram(bigint, double precision, double precision, jsonb);
DROP FUNCTION xmm.python_periodogram(bigint, double precision, double precision, jsonb);
-- functions of sql/58_timing_periodogram.sql
