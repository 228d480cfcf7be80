-- Last: TAP_SCHEMA describes the tables as they are now, and the roles' privileges
-- cover everything the steps above created.
SELECT xmm.tap_schema_refresh();
SELECT xmm.grant_roles();
REVOKE EXECUTE ON FUNCTION xmm.recluster() FROM PUBLIC, xmm_reader;
GRANT USAGE ON SCHEMA usr TO xmm_reader, xmm_loader;
GRANT CREATE ON SCHEMA usr TO xmm_loader;
GRANT USAGE ON SCHEMA ivoa TO xmm_reader, xmm_loader;
GRANT SELECT ON ALL TABLES IN SCHEMA ivoa TO xmm_reader, xmm_loader;
GRANT SELECT ON SEQUENCE xmm.tap_schema_version TO xmm_reader, xmm_loader;   -- when to read TAP_SCHEMA again
REVOKE EXECUTE ON FUNCTION xmm.user_table_create(text, jsonb, text, text, text, text, text),
                           xmm.user_table_finish(text), xmm.user_table_drop(text) FROM PUBLIC, xmm_reader;
-- Building the HiPS of the photons writes tiles and reads every photon of a region: the
-- administrator's and the loaders' (front and body), not readers'.
REVOKE EXECUTE ON FUNCTION xmm.xmm_hips_build(jsonb), xmm.python_hips_build(jsonb) FROM PUBLIC, xmm_reader;
