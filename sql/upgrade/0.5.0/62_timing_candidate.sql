-- Kept results carry the search's fdot and the chance of the whole search (the table was
-- created by sql/59_timing_search.sql of 0.4.0; it has its own file since 0.5.0).
ALTER TABLE xmm.timing_candidate ADD COLUMN best_fdot double precision, ADD COLUMN search_fap double precision;
