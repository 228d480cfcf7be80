INSERT INTO xmm.tap_unpublished VALUES ('user_table'), ('column_meta');
-- functions of sql/80_tap_schema_refresh.sql
