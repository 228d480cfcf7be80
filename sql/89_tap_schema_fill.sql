-- Last step of CREATE EXTENSION: publish every table created above in TAP_SCHEMA.
-- Loaders and later DDL call xmm.tap_schema_refresh() again.
SELECT xmm.tap_schema_refresh();
