-- User tables: any catalogue (FITS, CSV, VOTable) loaded beside the archive's own
-- with `xmmdb load table FILE`, one table of schema usr each, with a Q3C index
-- on its position, published in TAP_SCHEMA with its file's units, UCDs and
-- descriptions. SQL, ADQL (usr.name) and the search language (matched(name, r))
-- join them to the catalogue through the index.
--
--   SELECT s.iauname, a.uxid FROM usr.atlas a JOIN xmm.source s
--       ON q3c_join(a.ra, a.dec, s.sc_ra, s.sc_dec, 5 / 3600.);
--
-- The tables themselves are plain tables outside the extension (pg_dump keeps
-- them as any other); the registry below says what each one is.

CREATE SCHEMA usr;
COMMENT ON SCHEMA usr IS 'Catalogues loaded with xmmdb load table: one table each, Q3C-indexed on its position';

CREATE TABLE xmm.user_table (
    table_name  text PRIMARY KEY CHECK (table_name ~ '^[a-z][a-z0-9_]{0,62}$'),
    description text NOT NULL,
    ra_column   text,
    dec_column  text,
    file        text NOT NULL,
    sha256      text NOT NULL,
    n_rows      bigint NOT NULL DEFAULT 0,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((ra_column IS NULL) = (dec_column IS NULL))
);
COMMENT ON TABLE xmm.user_table IS 'Tables of schema usr: what each is, the file it came from and its position columns';
SELECT pg_catalog.pg_extension_config_dump('xmm.user_table', '');

-- Units, UCDs, utypes and descriptions of columns whose meaning is not the 4XMM
-- naming's (xmm.tap_column_meta): user tables' columns as their files gave them,
-- and standard tables' (ivoa.obscore). TAP_SCHEMA, the web pages and the docs read
-- them from here. table_name is schema-qualified, as in TAP_SCHEMA.
CREATE TABLE xmm.column_meta (
    table_name  text NOT NULL,
    column_name text NOT NULL,
    unit        text,
    ucd         text,
    utype       text,
    description text,
    xtype       text,                      -- a DALI/ADQL type the column's SQL type does not say
    PRIMARY KEY (table_name, column_name)
);
COMMENT ON TABLE xmm.column_meta IS 'Unit, UCD, utype and description of columns of user and standard tables';
-- The extension's own rows are made by CREATE EXTENSION; a dump keeps the user tables'.
SELECT pg_catalog.pg_extension_config_dump('xmm.column_meta', $$WHERE table_name LIKE 'usr.%'$$);

-- The column types a user table may have (what the file's columns become).
CREATE FUNCTION xmm.user_column_types() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ARRAY['smallint', 'integer', 'bigint', 'real', 'double precision', 'boolean', 'text'] $$;

-- Creates usr.<table_name> (empty) and registers it. columns: a JSON array of
-- {"name", "type", "unit", "ucd", "description"}, in order.
-- The loader then COPYs the rows in and calls xmm.user_table_finish.
CREATE FUNCTION xmm.user_table_create(table_name text, columns jsonb, ra_column text, dec_column text,
                                      description text, file text, sha256 text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c jsonb;
  ddl text[] := '{}';
  n integer := jsonb_array_length(columns);
BEGIN
  IF table_name IS NULL OR table_name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'table name % is not a name', coalesce(quote_literal(table_name), 'NULL')
      USING ERRCODE = 'invalid_name',
            HINT = 'a lower-case letter, then lower-case letters, digits or _, at most 63 characters';
  END IF;
  IF EXISTS (SELECT FROM xmm.user_table u WHERE u.table_name = user_table_create.table_name) THEN
    RAISE EXCEPTION 'table usr.% exists', table_name USING ERRCODE = 'duplicate_table',
      HINT = 'xmmdb load table --replace replaces it; --name gives the new one another name';
  END IF;
  IF n < 1 OR n > 1000 THEN
    RAISE EXCEPTION 'a user table has 1 to 1000 columns, not %', n USING ERRCODE = 'program_limit_exceeded';
  END IF;
  FOR c IN SELECT * FROM jsonb_array_elements(columns) LOOP
    IF coalesce(c ->> 'name', '') !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
      RAISE EXCEPTION 'column name % is not a name', coalesce(quote_literal(c ->> 'name'), 'NULL')
        USING ERRCODE = 'invalid_name', HINT = 'lower-case letters, digits or _, at most 63 characters';
    END IF;
    IF NOT (c ->> 'type' = ANY (xmm.user_column_types())) THEN
      RAISE EXCEPTION 'column %: type % is not one of %', c ->> 'name', c ->> 'type', xmm.user_column_types()
        USING ERRCODE = 'datatype_mismatch';
    END IF;
    ddl := ddl || format('%I %s', c ->> 'name', c ->> 'type');
  END LOOP;
  IF ra_column IS NOT NULL THEN
    IF NOT EXISTS (SELECT FROM jsonb_array_elements(columns) e
                    WHERE e ->> 'name' = ra_column AND e ->> 'type' IN ('real', 'double precision'))
       OR NOT EXISTS (SELECT FROM jsonb_array_elements(columns) e
                       WHERE e ->> 'name' = dec_column AND e ->> 'type' IN ('real', 'double precision')) THEN
      RAISE EXCEPTION 'position columns % and % must be real numbers of the table', ra_column, dec_column
        USING ERRCODE = 'datatype_mismatch';
    END IF;
    -- A position is on the sky or the row is refused (COPY names the line).
    ddl := ddl || format('CONSTRAINT %I CHECK (%I >= 0 AND %I < 360 AND %I BETWEEN -90 AND 90)',
                         table_name || '_on_the_sky', ra_column, ra_column, dec_column);
  END IF;
  EXECUTE format('CREATE TABLE usr.%I (%s)', table_name, array_to_string(ddl, ', '));
  EXECUTE format('COMMENT ON TABLE usr.%I IS %L', table_name, description);
  INSERT INTO xmm.user_table (table_name, description, ra_column, dec_column, file, sha256)
  VALUES (table_name, description, ra_column, dec_column, file, sha256);
  -- Position UCDs and units: the file's, else the standard ones.
  INSERT INTO xmm.column_meta (table_name, column_name, unit, ucd, description)
  SELECT 'usr.' || user_table_create.table_name, e ->> 'name',
         coalesce(nullif(e ->> 'unit', ''), CASE WHEN e ->> 'name' IN (ra_column, dec_column) THEN 'deg' END),
         coalesce(nullif(e ->> 'ucd', ''), CASE e ->> 'name' WHEN ra_column THEN 'pos.eq.ra;meta.main'
                                                            WHEN dec_column THEN 'pos.eq.dec;meta.main' END),
         nullif(e ->> 'description', '')
    FROM jsonb_array_elements(columns) e;
END $$;

-- After the rows are in: the Q3C index, statistics, readers' access and the
-- load's record (which refreshes TAP_SCHEMA at commit). Returns the row count.
CREATE FUNCTION xmm.user_table_finish(table_name text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t xmm.user_table;
  n bigint;
BEGIN
  SELECT * INTO t FROM xmm.user_table u WHERE u.table_name = user_table_finish.table_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no user table %', table_name USING ERRCODE = 'undefined_table';
  END IF;
  EXECUTE format('SELECT count(*) FROM usr.%I', table_name) INTO n;
  IF t.ra_column IS NOT NULL THEN
    EXECUTE format('CREATE INDEX %I ON usr.%I (public.q3c_ang2ipix(%I, %I))',
                   table_name || '_q3c_idx', table_name, t.ra_column, t.dec_column);
  END IF;
  EXECUTE format('ANALYZE usr.%I', table_name);
  EXECUTE format('GRANT SELECT ON usr.%I TO xmm_reader, xmm_loader', table_name);
  UPDATE xmm.user_table u SET n_rows = n, loaded_at = now() WHERE u.table_name = t.table_name;
  INSERT INTO xmm.load_log (format, file, sha256, n_rows, summary)
  VALUES ('table', t.file, t.sha256, n, jsonb_build_object('table', 'usr.' || t.table_name, 'rows', n));
  RETURN n;
END $$;

-- Drops a user table and its registry rows (its TAP_SCHEMA entry goes at commit).
CREATE FUNCTION xmm.user_table_drop(table_name text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t xmm.user_table;
BEGIN
  DELETE FROM xmm.user_table u WHERE u.table_name = user_table_drop.table_name RETURNING * INTO t;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  DELETE FROM xmm.column_meta m WHERE m.table_name = 'usr.' || t.table_name;
  EXECUTE format('DROP TABLE IF EXISTS usr.%I', table_name);
  INSERT INTO xmm.load_log (format, file, sha256, n_rows, summary)
  VALUES ('table', t.file, t.sha256, 0, jsonb_build_object('dropped', 'usr.' || t.table_name));
  RETURN true;
END $$;

COMMENT ON FUNCTION xmm.user_table_create(text, jsonb, text, text, text, text, text) IS
  'Creates an empty user table usr.<name> and registers its columns (xmmdb load table calls it)';
COMMENT ON FUNCTION xmm.user_table_finish(text) IS
  'Indexes, analyses and publishes a user table after its rows are copied in; returns its row count';
COMMENT ON FUNCTION xmm.user_table_drop(text) IS
  'Drops a user table (xmmdb load table --replace, or by hand); false if there was none';
