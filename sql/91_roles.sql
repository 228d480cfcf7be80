-- Roles. Runs last, so it covers every object the extension created.
--
--   xmm_reader  group of the roles of the web shim, TAP and JDBC users (TOPCAT):
--               SELECT on the catalogue, products and photons, EXECUTE on the
--               functions; it cannot write, create objects or run the
--               untrusted language itself.
--   xmm_loader  group of the roles that load (`xmmdb load`): writes the archive tables.
--
-- Both are groups that cannot log in: people and services log in with roles
-- of their own that belong to one (`xmmdb user add NAME --role reader`), so
-- one user's ALTER ROLE … SET changes nobody else's limits, and users can
-- neither see each other's queries nor cancel each other's statements. Limits
-- (timeouts, temp files, connections) are set on each login role by
-- `xmmdb user add`; docs/security.md lists them.
--
-- Functions are SECURITY INVOKER unless marked otherwise, so what a role can
-- do through a function is what its table privileges allow: a reader calling
-- xmm.ingest_catalogue() fails on INSERT. Roles are cluster-wide: they are
-- created once and reused by every database with the extension.

-- The roles' rows are the cluster's: a second database installing at the same moment would
-- update them too and fail ("tuple concurrently updated"); it waits for this one instead.
LOCK TABLE pg_catalog.pg_authid IN SHARE ROW EXCLUSIVE MODE;

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'xmm_reader') THEN
    CREATE ROLE xmm_reader NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'xmm_loader') THEN
    CREATE ROLE xmm_loader NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
  END IF;
END $$;
-- Groups made by older releases could log in and had settings (which apply
-- to the role that logs in, not to members: the login roles carry them now).
ALTER ROLE xmm_reader NOLOGIN;
ALTER ROLE xmm_loader NOLOGIN;
ALTER ROLE xmm_reader RESET ALL;
ALTER ROLE xmm_loader RESET ALL;

-- (Re)grants privileges on everything in the archive's schemas; also called
-- after objects are added outside the extension script.
CREATE FUNCTION xmm.grant_roles() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s text;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace WHERE nspname IN ('xmm', 'xmmpub', 'tap_schema') LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO xmm_reader, xmm_loader', s);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO xmm_reader, xmm_loader', s);
    EXECUTE format('GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO xmm_loader', s);
    EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO xmm_loader', s);
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I TO xmm_reader, xmm_loader', s);
  END LOOP;
END $$;

SELECT xmm.grant_roles();

-- CLUSTER needs the table's owner: the loader reaches it through this function only.
ALTER FUNCTION xmm.recluster() SECURITY DEFINER SET search_path = xmm, public, pg_temp;
REVOKE EXECUTE ON FUNCTION xmm.recluster() FROM PUBLIC, xmm_reader;

-- User tables (xmmdb load table): loaders make them, everyone with a role reads them.
GRANT USAGE ON SCHEMA usr TO xmm_reader, xmm_loader;
GRANT CREATE ON SCHEMA usr TO xmm_loader;
-- The IVOA standard views.
GRANT USAGE ON SCHEMA ivoa TO xmm_reader, xmm_loader;
GRANT SELECT ON ALL TABLES IN SCHEMA ivoa TO xmm_reader, xmm_loader;
GRANT SELECT ON SEQUENCE xmm.tap_schema_version TO xmm_reader, xmm_loader;   -- when to read TAP_SCHEMA again
REVOKE EXECUTE ON FUNCTION xmm.user_table_create(text, jsonb, text, text, text, text, text),
                           xmm.user_table_finish(text), xmm.user_table_drop(text) FROM PUBLIC, xmm_reader;
-- Building the HiPS of the photons writes tiles and reads every photon of a region: the
-- administrator's and the loaders' (front and body), not readers'.
REVOKE EXECUTE ON FUNCTION xmm.xmm_hips_build(jsonb), xmm.python_hips_build(jsonb) FROM PUBLIC, xmm_reader;
