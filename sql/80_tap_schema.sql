-- TAP_SCHEMA (IVOA TAP 1.1, section 4): the service's own description of its
-- tables, kept as real tables that ADQL can query, filled from the catalogue
-- itself (pg_catalog, column comments, primary/foreign keys, indexes) by
-- xmm.tap_schema_refresh(). UCDs and units come from the 4XMM column naming
-- (xmm.tap_column_meta) unless a column comment says otherwise.
--
-- Published: every table and view of schema xmm that has a comment (the
-- comment is its TAP description), less the bookkeeping tables listed in
-- xmm.tap_unpublished, plus TAP_SCHEMA's own five tables. Columns whose type
-- has no VOTable equivalent (pgSphere polygons, bytea, arrays) are left out.
--
-- Refresh after DDL or loads:  SELECT xmm.tap_schema_refresh();
-- (CREATE EXTENSION calls it as its last step, sql/89_tap_schema_fill.sql.)

CREATE SCHEMA tap_schema;
COMMENT ON SCHEMA tap_schema IS 'IVOA TAP_SCHEMA: the tables and columns this TAP service publishes';

CREATE TABLE tap_schema.schemas (
    schema_name  text PRIMARY KEY,
    utype        text,
    description  text,
    schema_index integer
);

CREATE TABLE tap_schema.tables (
    schema_name  text NOT NULL REFERENCES tap_schema.schemas ON DELETE CASCADE,
    table_name   text PRIMARY KEY,
    table_type   text NOT NULL CHECK (table_type IN ('table', 'view')),
    utype        text,
    description  text,
    table_index  integer
);

CREATE TABLE tap_schema.columns (
    table_name   text NOT NULL REFERENCES tap_schema.tables ON DELETE CASCADE,
    column_name  text NOT NULL,
    utype        text,
    ucd          text,
    unit         text,
    description  text,
    datatype     text NOT NULL,
    arraysize    text,
    xtype        text,
    "size"       integer,
    principal    integer NOT NULL,
    indexed      integer NOT NULL,
    std          integer NOT NULL,
    column_index integer,
    PRIMARY KEY (table_name, column_name)
);

CREATE TABLE tap_schema.keys (
    key_id       text PRIMARY KEY,
    from_table   text NOT NULL REFERENCES tap_schema.tables ON DELETE CASCADE,
    target_table text NOT NULL REFERENCES tap_schema.tables ON DELETE CASCADE,
    utype        text,
    description  text
);

CREATE TABLE tap_schema.key_columns (
    key_id        text NOT NULL REFERENCES tap_schema.keys ON DELETE CASCADE,
    from_column   text NOT NULL,
    target_column text NOT NULL
);

COMMENT ON TABLE tap_schema.schemas IS 'TAP_SCHEMA: schemas published by this service';
COMMENT ON TABLE tap_schema.tables IS 'TAP_SCHEMA: tables and views published by this service';
COMMENT ON TABLE tap_schema.columns IS 'TAP_SCHEMA: columns of the published tables with UCD, unit and VOTable datatype';
COMMENT ON TABLE tap_schema.keys IS 'TAP_SCHEMA: foreign keys between published tables';
COMMENT ON TABLE tap_schema.key_columns IS 'TAP_SCHEMA: columns of the foreign keys';

DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM (VALUES
      ('schemas', 'schema_name', 'schema name, possibly qualified'), ('schemas', 'utype', 'lists the utypes of schemas in the tableset'),
      ('schemas', 'description', 'brief description of the schema'), ('schemas', 'schema_index', 'recommended sort order when listing schemas'),
      ('tables', 'schema_name', 'the schema name from TAP_SCHEMA.schemas'), ('tables', 'table_name', 'table name as it should be used in queries'),
      ('tables', 'table_type', 'one of: table, view'), ('tables', 'utype', 'lists the utype of tables in the tableset'),
      ('tables', 'description', 'brief description of the table'), ('tables', 'table_index', 'recommended sort order when listing tables'),
      ('columns', 'table_name', 'table name from TAP_SCHEMA.tables'), ('columns', 'column_name', 'column name'),
      ('columns', 'utype', 'utype of the column'), ('columns', 'ucd', 'UCD of the column'), ('columns', 'unit', 'unit in VO standard format'),
      ('columns', 'description', 'brief description of the column'), ('columns', 'datatype', 'ADQL datatype as in section 2.5 of TAP'),
      ('columns', 'arraysize', 'length of variable length datatypes'), ('columns', 'xtype', 'a DALI or custom extended type annotation'),
      ('columns', 'size', 'length of variable length datatypes (TAP 1.0)'),
      ('columns', 'principal', 'a principal column; 1 means true, 0 means false'),
      ('columns', 'indexed', 'an indexed column; 1 means true, 0 means false'),
      ('columns', 'std', 'a standard column; 1 means true, 0 means false'), ('columns', 'column_index', 'recommended sort order when listing columns'),
      ('keys', 'key_id', 'unique key identifier'), ('keys', 'from_table', 'fully qualified table name'),
      ('keys', 'target_table', 'fully qualified table name'), ('keys', 'utype', 'lists the utype of keys in the tableset'),
      ('keys', 'description', 'description of this key'),
      ('key_columns', 'key_id', 'key identifier from TAP_SCHEMA.keys'), ('key_columns', 'from_column', 'key column name in the from_table'),
      ('key_columns', 'target_column', 'key column name in the target_table')) AS c(t, c, d)
  LOOP
    EXECUTE format('COMMENT ON COLUMN tap_schema.%I.%I IS %L', r.t, r.c, r.d);
  END LOOP;
END $$;

GRANT USAGE ON SCHEMA tap_schema TO PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA tap_schema TO PUBLIC;

-- Counts the refreshes: a session that keeps what TAP_SCHEMA publishes (the ADQL
-- translator) knows from it when to read TAP_SCHEMA again (a user table was loaded).
CREATE SEQUENCE xmm.tap_schema_version;

-- Tables of schema xmm that are bookkeeping, not data, and stay out of TAP
-- even when they carry a comment. A new internal table is added to this list.
CREATE TABLE xmm.tap_unpublished (table_name text PRIMARY KEY);
INSERT INTO xmm.tap_unpublished VALUES ('load_log'), ('tap_unpublished'), ('fit_cache'), ('name_cache'), ('photon_cell'),
                                       ('user_table'), ('column_meta'), ('hips_tile'), ('hips_build'), ('hips_dirty');
COMMENT ON TABLE xmm.tap_unpublished IS 'Tables of schema xmm that TAP_SCHEMA does not publish (bookkeeping, caches)';
