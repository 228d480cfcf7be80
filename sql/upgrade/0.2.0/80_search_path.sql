-- A search path that does not name pg_temp searches the session's temporary
-- objects first: every function that sets one names pg_temp last.
ALTER FUNCTION xmm.grant_roles() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION xmm.tap_schema_refresh() SET search_path = xmm, pg_catalog, pg_temp;
ALTER FUNCTION xmm.tap_schema_after_load() SET search_path = xmm, pg_catalog, pg_temp;
