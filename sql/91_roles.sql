-- Roles. Runs last, so it covers every object the extension created.
--
--   xmm_reader  what the web shim, TAP and JDBC clients (TOPCAT) use: SELECT on
--               the catalogue, products and photons, EXECUTE on the functions;
--               it cannot write, create objects or run the untrusted language
--               itself; every statement is cut at statement_timeout.
--   xmm_loader  what `xmmdb load` may run as: writes the archive tables.
--
-- Functions are SECURITY INVOKER unless marked otherwise, so what a role can
-- do through a function is what its table privileges allow: a reader calling
-- xmm.ingest_catalogue() fails on INSERT. Roles are cluster-wide: they are
-- created once and reused by every database with the extension.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'xmm_reader') THEN
    CREATE ROLE xmm_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'xmm_loader') THEN
    CREATE ROLE xmm_loader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
  END IF;
END $$;

ALTER ROLE xmm_reader SET statement_timeout = '60s';
ALTER ROLE xmm_reader SET idle_in_transaction_session_timeout = '5min';
ALTER ROLE xmm_reader SET search_path = xmm, public;
ALTER ROLE xmm_loader SET search_path = xmm, public;

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
