-- A search's columns become one type, xmm.periodogram, that xmm_periodogram and
-- xmm_periodogram_at return: their result type changes, so they are made again.
DROP FUNCTION xmm.xmm_periodogram(bigint, double precision, double precision, jsonb);
DROP FUNCTION xmm.python_periodogram(bigint, double precision, double precision, jsonb);
DROP FUNCTION xmm.xmm_periodogram_at(double precision, double precision, double precision, double precision, jsonb);
DROP FUNCTION xmm.python_periodogram_at(double precision, double precision, double precision, double precision,
                                        jsonb);
-- made again in this version: sql/58_timing_periodogram.sql
