-- Backups: pg_dump keeps the data of an extension's tables only when the
-- extension registers them (pg_extension_config_dump); otherwise a dump holds
-- `CREATE EXTENSION xmmdb` and not one row. Every table that holds loaded or
-- computed data is registered here, with its sequence, so that `pg_dump` and
-- `pg_restore` carry the whole archive (docs/operations.md).
--
-- Not registered, because the install script itself fills them and they hold
-- nothing a user loads: xmm.ngc_object and xmm.object_name (the bundled
-- OpenNGC names), xmm.tap_unpublished and the tap_schema tables (described
-- from the installed schema), xmm.tap_schema_version (a count of TAP_SCHEMA's refreshes). New tables register in their own sql file.

-- (one call per statement: each call rewrites the extension's catalogue row)
DO $$
DECLARE
  t regclass;
BEGIN
  FOREACH t IN ARRAY ARRAY['xmm.observation', 'xmm.source', 'xmm.detection', 'xmm.load_log',
                           'xmm.load_log_load_id_seq', 'xmm.name_cache', 'xmm.response',
                           'xmm.response_response_id_seq', 'xmm.spectrum', 'xmm.spectrum_spectrum_id_seq',
                           'xmm.fit_cache', 'xmm.exposure', 'xmm.exposure_exp_key_seq', 'xmm.gti',
                           'xmm.orbit']::regclass[] LOOP
    PERFORM pg_catalog.pg_extension_config_dump(t, '');
  END LOOP;
  -- The photons: pg_dump copies partitions, not the partitioned table.
  FOR t IN SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits i
            WHERE i.inhparent = 'xmm.photon_cell'::regclass ORDER BY 1 LOOP
    PERFORM pg_catalog.pg_extension_config_dump(t, '');
  END LOOP;
END $$;

-- A restore copies a table's rows in one COPY, in stored order: a source
-- spectrum may come before the background spectrum it names, so that
-- reference is checked at the end of the COPY's transaction.
ALTER TABLE xmm.spectrum ALTER CONSTRAINT spectrum_background_id_fkey DEFERRABLE INITIALLY DEFERRED;
