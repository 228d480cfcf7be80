-- Last step of CREATE EXTENSION: publish every table created above in TAP_SCHEMA.
-- Loaders and later DDL call xmm.tap_schema_refresh() again.
SELECT xmm.tap_schema_refresh();

CREATE CONSTRAINT TRIGGER load_log_tap_schema AFTER INSERT ON xmm.load_log
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION xmm.tap_schema_after_load();
