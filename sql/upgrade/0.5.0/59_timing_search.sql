-- The blind search reports best_fdot; xmm_pulsation_survey searches many sources with progress
-- and the chance of the whole search.
DROP FUNCTION xmm.xmm_pulsation_search(bigint, jsonb);
DROP FUNCTION xmm.python_pulsation_search(bigint, jsonb);
-- functions of sql/59_timing_search.sql
