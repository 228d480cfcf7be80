-- Names are looked up in SQL (xmm.named_position): a new session's first
-- xmm_resolve of a name needs no Python. The translation's errors take the one
-- path of every front (xmm_to_sql over xmm.python_to_sql), not a row of data.
-- The query language's cones read xmm.sources_in_cone / xmm.detections_in_cone.
DROP FUNCTION xmm.search_sql(text, text);
-- functions of sql/22_search.sql
