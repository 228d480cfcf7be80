INSERT INTO xmm.tap_unpublished VALUES ('user_table'), ('column_meta'), ('hips_tile'), ('hips_build'), ('hips_dirty');
CREATE SEQUENCE xmm.tap_schema_version;
-- functions of sql/80_tap_schema_refresh.sql
