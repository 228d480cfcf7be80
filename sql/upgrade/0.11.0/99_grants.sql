-- Last: TAP_SCHEMA describes the tables as they are now, and the roles' privileges
-- cover everything the steps above created.
SELECT xmm.tap_schema_refresh();
SELECT xmm.grant_roles();
REVOKE EXECUTE ON FUNCTION xmm.recluster() FROM PUBLIC, xmm_reader;
