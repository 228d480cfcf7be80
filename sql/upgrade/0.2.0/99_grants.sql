-- Last: the roles' privileges on everything the steps above created.
SELECT xmm.grant_roles();
REVOKE EXECUTE ON FUNCTION xmm.recluster() FROM PUBLIC, xmm_reader;
