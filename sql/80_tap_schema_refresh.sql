-- Filling TAP_SCHEMA (sql/80_tap_schema.sql) from the catalogue: VOTable types,
-- ADQL-safe names, UCDs and units, and the refresh itself (functions only, so
-- an upgrade takes them as they are: "-- functions of sql/80_tap_schema_refresh.sql").

-- VOTable datatype, arraysize and xtype of a PostgreSQL type; NULL when there is none.
CREATE FUNCTION xmm.tap_votable_type(typ regtype, OUT datatype text, OUT arraysize text, OUT xtype text)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT t.datatype, t.arraysize, t.xtype FROM (VALUES
      ('smallint'::regtype, 'short', NULL, NULL), ('integer', 'int', NULL, NULL), ('bigint', 'long', NULL, NULL),
      ('real', 'float', NULL, NULL), ('double precision', 'double', NULL, NULL), ('numeric', 'double', NULL, NULL),
      ('boolean', 'boolean', NULL, NULL), ('text', 'char', '*', NULL), ('character varying', 'char', '*', NULL),
      ('character', 'char', '*', NULL), ('name', 'char', '*', NULL),
      ('timestamp without time zone', 'char', '*', 'timestamp'), ('timestamp with time zone', 'char', '*', 'timestamp'),
      ('date', 'char', '*', 'timestamp')) AS t(typ, datatype, arraysize, xtype)
   WHERE t.typ = $1
$$;

-- A column name as ADQL must write it: delimited ("time", "pi", "size") when it
-- is an ADQL or SQL-92 reserved word or not a regular identifier (TAP 1.1, 4.3).
CREATE FUNCTION xmm.tap_quote_name(name text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE WHEN name ~ '^[a-z][a-z0-9_]*$' AND NOT upper(name) = ANY (ARRAY[
      'ABS', 'ACOS', 'AREA', 'ASIN', 'ATAN', 'ATAN2', 'BOX', 'CEILING', 'CENTROID', 'CIRCLE', 'CONTAINS',
      'COORD1', 'COORD2', 'COORDSYS', 'COS', 'COT', 'DEGREES', 'DISTANCE', 'EXP', 'FLOOR', 'INTERSECTS',
      'LOG', 'LOG10', 'MOD', 'PI', 'POINT', 'POLYGON', 'POWER', 'RADIANS', 'REGION', 'RAND', 'ROUND', 'SIN',
      'SQRT', 'TOP', 'TAN', 'TRUNCATE', 'ILIKE', 'IN_UNIT', 'LOWER', 'UPPER', 'OFFSET',
      'ABSOLUTE', 'ACTION', 'ADD', 'ALL', 'ALLOCATE', 'ALTER', 'AND', 'ANY', 'ARE', 'AS', 'ASC', 'ASSERTION',
      'AT', 'AUTHORIZATION', 'AVG', 'BEGIN', 'BETWEEN', 'BIT', 'BIT_LENGTH', 'BOTH', 'BY', 'CASCADE', 'CASCADED',
      'CASE', 'CAST', 'CATALOG', 'CHAR', 'CHARACTER', 'CHAR_LENGTH', 'CHARACTER_LENGTH', 'CHECK', 'CLOSE',
      'COALESCE', 'COLLATE', 'COLLATION', 'COLUMN', 'COMMIT', 'CONNECT', 'CONNECTION', 'CONSTRAINT',
      'CONSTRAINTS', 'CONTINUE', 'CONVERT', 'CORRESPONDING', 'COUNT', 'CREATE', 'CROSS', 'CURRENT',
      'CURRENT_DATE', 'CURRENT_TIME', 'CURRENT_TIMESTAMP', 'CURRENT_USER', 'CURSOR', 'DATE', 'DAY', 'DEALLOCATE',
      'DECIMAL', 'DECLARE', 'DEFAULT', 'DEFERRABLE', 'DEFERRED', 'DELETE', 'DESC', 'DESCRIBE', 'DESCRIPTOR',
      'DIAGNOSTICS', 'DISCONNECT', 'DISTINCT', 'DOMAIN', 'DOUBLE', 'DROP', 'ELSE', 'END', 'ESCAPE', 'EXCEPT',
      'EXCEPTION', 'EXEC', 'EXECUTE', 'EXISTS', 'EXTERNAL', 'EXTRACT', 'FALSE', 'FETCH', 'FIRST', 'FLOAT', 'FOR',
      'FOREIGN', 'FOUND', 'FROM', 'FULL', 'GET', 'GLOBAL', 'GO', 'GOTO', 'GRANT', 'GROUP', 'HAVING', 'HOUR',
      'IDENTITY', 'IMMEDIATE', 'IN', 'INDICATOR', 'INITIALLY', 'INNER', 'INPUT', 'INSENSITIVE', 'INSERT', 'INT',
      'INTEGER', 'INTERSECT', 'INTERVAL', 'INTO', 'IS', 'ISOLATION', 'JOIN', 'KEY', 'LANGUAGE', 'LAST', 'LEADING',
      'LEFT', 'LEVEL', 'LIKE', 'LOCAL', 'MATCH', 'MAX', 'MIN', 'MINUTE', 'MODULE', 'MONTH', 'NAMES', 'NATIONAL',
      'NATURAL', 'NCHAR', 'NEXT', 'NO', 'NOT', 'NULL', 'NULLIF', 'NUMERIC', 'OCTET_LENGTH', 'OF', 'ON', 'ONLY',
      'OPEN', 'OPTION', 'OR', 'ORDER', 'OUTER', 'OUTPUT', 'OVERLAPS', 'PAD', 'PARTIAL', 'POSITION', 'PRECISION',
      'PREPARE', 'PRESERVE', 'PRIMARY', 'PRIOR', 'PRIVILEGES', 'PROCEDURE', 'PUBLIC', 'READ', 'REAL',
      'REFERENCES', 'RELATIVE', 'RESTRICT', 'REVOKE', 'RIGHT', 'ROLLBACK', 'ROWS', 'SCHEMA', 'SCROLL', 'SECOND',
      'SECTION', 'SELECT', 'SESSION', 'SESSION_USER', 'SET', 'SIZE', 'SMALLINT', 'SOME', 'SPACE', 'SQL',
      'SQLCODE', 'SQLERROR', 'SQLSTATE', 'SUBSTRING', 'SUM', 'SYSTEM_USER', 'TABLE', 'TEMPORARY', 'THEN', 'TIME',
      'TIMESTAMP', 'TIMEZONE_HOUR', 'TIMEZONE_MINUTE', 'TO', 'TRAILING', 'TRANSACTION', 'TRANSLATE',
      'TRANSLATION', 'TRIM', 'TRUE', 'UNION', 'UNIQUE', 'UNKNOWN', 'UPDATE', 'USAGE', 'USER', 'USING', 'VALUE',
      'VALUES', 'VARCHAR', 'VARYING', 'VIEW', 'WHEN', 'WHENEVER', 'WHERE', 'WITH', 'WORK', 'WRITE', 'YEAR', 'ZONE'])
    THEN name ELSE '"' || replace(name, '"', '""') || '"' END
$$;

-- UCD, unit and a description of a column from the 4XMM naming conventions.
-- main_ra/main_dec name the table's main position columns, main_id its identifier.
CREATE FUNCTION xmm.tap_column_meta(col text, main_id text, main_ra text, main_dec text,
                                    OUT ucd text, OUT unit text, OUT description text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  band text; bands constant jsonb := '{"1": "0.2-0.5 keV", "2": "0.5-1 keV", "3": "1-2 keV", "4": "2-4.5 keV",
                                       "5": "4.5-12 keV", "8": "0.2-12 keV", "9": "0.5-4.5 keV"}';
  inst text; m text[];
BEGIN
  IF col = main_id THEN
    ucd := 'meta.id;meta.main';
  ELSIF col = main_ra THEN
    ucd := 'pos.eq.ra;meta.main'; unit := 'deg';
  ELSIF col = main_dec THEN
    ucd := 'pos.eq.dec;meta.main'; unit := 'deg';
  END IF;
  m := regexp_match(col, '^(sc_ep|ep|pn|m1|m2)_([0-9])_(flux|rate|cts|det_ml|fmin|fmax)(_err)?$');
  IF m IS NOT NULL THEN
    band := bands ->> m[2];
    inst := CASE m[1] WHEN 'sc_ep' THEN 'EPIC (all detections combined)' WHEN 'ep' THEN 'EPIC' ELSE upper(m[1]) END;
    description := CASE m[3] WHEN 'flux' THEN inst || ' flux in band ' || m[2] || ' (' || band || ')'
                             WHEN 'rate' THEN inst || ' count rate in band ' || m[2] || ' (' || band || ')'
                             WHEN 'cts' THEN inst || ' source counts in band ' || m[2] || ' (' || band || ')'
                             WHEN 'det_ml' THEN inst || ' detection likelihood in band ' || m[2] || ' (' || band || ')'
                             WHEN 'fmin' THEN 'lowest flux of the detections in band ' || m[2] || ' (' || band || ')'
                             ELSE 'highest flux of the detections in band ' || m[2] || ' (' || band || ')' END;
    unit := CASE m[3] WHEN 'rate' THEN 'ct/s' WHEN 'cts' THEN 'ct' WHEN 'det_ml' THEN NULL ELSE 'mW/m2' END;
    ucd := CASE m[3] WHEN 'rate' THEN 'phot.count;arith.rate;em.X-ray' WHEN 'cts' THEN 'phot.count;em.X-ray'
                     WHEN 'det_ml' THEN 'stat.likelihood;em.X-ray' ELSE 'phot.flux;em.X-ray' END;
    IF m[4] IS NOT NULL THEN
      ucd := 'stat.error;' || ucd; description := 'error of the ' || description;
    END IF;
    RETURN;
  END IF;
  m := regexp_match(col, '^(sc|ep)_hr([1-4])(_err)?$');
  IF m IS NOT NULL THEN
    ucd := CASE WHEN m[3] IS NULL THEN 'phot.color;em.X-ray' ELSE 'stat.error;phot.color;em.X-ray' END;
    description := CASE WHEN m[3] IS NULL THEN '' ELSE 'error of the ' END
                   || 'hardness ratio ' || m[2] || ' (bands ' || m[2] || ' and ' || (m[2]::int + 1) || ')';
    RETURN;
  END IF;
  m := regexp_match(col, '^(pn|m1|m2)_(offax|chi2prob|fvar|fvar_err|ontime|filter|submode)$');
  IF m IS NOT NULL THEN
    inst := upper(m[1]);
    SELECT x.u, x.c, inst || ' ' || x.d INTO unit, ucd, description FROM (VALUES
        ('offax', 'arcmin', 'pos.angDistance;instr.fov', 'off-axis angle'),
        ('chi2prob', NULL, 'stat.value', 'probability that the source is constant (chi-squared)'),
        ('fvar', NULL, 'src.var', 'fractional excess variance'),
        ('fvar_err', NULL, 'stat.error;src.var', 'error of the fractional excess variance'),
        ('ontime', 's', 'time.duration;obs.exposure', 'on-time'),
        ('filter', NULL, 'instr.filter', 'filter'),
        ('submode', NULL, 'instr.setup', 'observing mode')) AS x(k, u, c, d)
     WHERE x.k = m[2];
    RETURN;
  END IF;
  SELECT coalesce(ucd, x.c), coalesce(unit, x.u), x.d INTO ucd, unit, description FROM (VALUES
      ('srcid', NULL, 'meta.id', 'unique source identifier'),
      ('detid', NULL, 'meta.id', 'detection identifier'),
      ('iauname', NULL, 'meta.id', 'IAU name of the source'),
      ('obs_id', NULL, 'obs.id', 'XMM-Newton observation identifier'),
      ('src_num', NULL, 'meta.number', 'source number in the observation''s source list'),
      ('revolut', NULL, 'meta.number', 'XMM-Newton revolution'),
      ('target', NULL, 'meta.id;src', 'target name given by the observer'),
      ('ra', 'deg', 'pos.eq.ra', 'right ascension (ICRS)'),
      ('dec', 'deg', 'pos.eq.dec', 'declination (ICRS)'),
      ('sc_ra', 'deg', 'pos.eq.ra', 'right ascension of the source (ICRS, combined over detections)'),
      ('sc_dec', 'deg', 'pos.eq.dec', 'declination of the source (ICRS, combined over detections)'),
      ('ra_pnt', 'deg', 'pos.eq.ra;instr.pointing', 'right ascension of the pointing'),
      ('dec_pnt', 'deg', 'pos.eq.dec;instr.pointing', 'declination of the pointing'),
      ('pa_pnt', 'deg', 'pos.posAng;instr.pointing', 'position angle of the pointing'),
      ('lii', 'deg', 'pos.galactic.lon', 'galactic longitude'),
      ('bii', 'deg', 'pos.galactic.lat', 'galactic latitude'),
      ('poserr', 'arcsec', 'stat.error;pos', 'position error (1 sigma, statistical)'),
      ('sc_poserr', 'arcsec', 'stat.error;pos', 'position error of the source (1 sigma)'),
      ('radec_err', 'arcsec', 'stat.error;pos', 'statistical position error'),
      ('syserrcc', 'arcsec', 'stat.error.sys;pos', 'systematic position error'),
      ('sc_det_ml', NULL, 'stat.likelihood;em.X-ray', 'detection likelihood of the source (0.2-12 keV)'),
      ('sc_extent', 'arcsec', 'phys.angSize;src', 'extent of the source (core radius)'),
      ('sc_ext_ml', NULL, 'stat.likelihood', 'likelihood of the source being extended'),
      ('ep_extent', 'arcsec', 'phys.angSize;src', 'extent of the detection (core radius)'),
      ('ep_extent_err', 'arcsec', 'stat.error;phys.angSize;src', 'error of the extent'),
      ('ep_extent_ml', NULL, 'stat.likelihood', 'likelihood of the detection being extended'),
      ('sc_chi2prob', NULL, 'stat.value', 'probability that the source is constant (chi-squared)'),
      ('sc_fvar', NULL, 'src.var', 'fractional excess variance of the source'),
      ('sc_fvar_err', NULL, 'stat.error;src.var', 'error of the fractional excess variance'),
      ('sc_var_flag', NULL, 'meta.code;src.var', 'the source is variable'),
      ('var_flag', NULL, 'meta.code;src.var', 'the detection is variable'),
      ('sc_sum_flag', NULL, 'meta.code.qual', 'quality summary flag of the source (0 good .. 4 spurious)'),
      ('sum_flag', NULL, 'meta.code.qual', 'quality summary flag of the detection (0 good .. 4 spurious)'),
      ('mjd_first', 'd', 'time.start;obs', 'MJD of the first observation of the source'),
      ('mjd_last', 'd', 'time.end;obs', 'MJD of the last observation of the source'),
      ('mjd_start', 'd', 'time.start;obs', 'start of the observation (MJD)'),
      ('mjd_stop', 'd', 'time.end;obs', 'end of the observation (MJD)'),
      ('n_detections', NULL, 'meta.number', 'number of detections of the source'),
      ('is_ulx', NULL, 'meta.code', 'candidate ultraluminous X-ray source'),
      ('comments', NULL, 'meta.note', 'free-text annotations'),
      ('obs_class', NULL, 'meta.code.qual;obs', 'observation class 0 (clean) .. 5 (bad)'),
      ('tseries', NULL, 'meta.code', 'a pipeline light curve exists'),
      ('spectra', NULL, 'meta.code', 'a pipeline spectrum exists'),
      ('high_background', NULL, 'meta.code.qual', 'detected during high background'),
      ('confused', NULL, 'meta.code.qual', 'the detection may be confused'),
      ('time', 's', 'time.epoch', 'arrival time (TT seconds since MJD 50814)'),
      ('energy', 'eV', 'em.energy', 'photon energy (PI)'),
      ('pi', 'eV', 'em.energy', 'photon energy (PI)'),
      ('pattern', NULL, 'instr.param', 'event pattern'),
      ('flag', NULL, 'meta.code.qual', 'event flag'),
      ('ccdnr', NULL, 'instr.det', 'CCD number'),
      ('instrument', NULL, 'instr', 'EPIC instrument'),
      ('x', NULL, 'pos.cartesian.x;instr.det', 'sky x pixel'),
      ('y', NULL, 'pos.cartesian.y;instr.det', 'sky y pixel')) AS x(k, u, c, d)
   WHERE x.k = col;
END $$;

-- (Re)fills TAP_SCHEMA from the catalogue: published tables and views,
-- their columns with VOTable types, UCDs, units, descriptions, indexed and
-- principal flags, and the foreign keys between them.
CREATE FUNCTION xmm.tap_schema_refresh() RETURNS integer
LANGUAGE plpgsql SET search_path = xmm, pg_catalog, pg_temp AS $$
DECLARE
  n integer;
BEGIN
  DELETE FROM tap_schema.key_columns;
  DELETE FROM tap_schema.keys;
  DELETE FROM tap_schema.columns;
  DELETE FROM tap_schema.tables;
  DELETE FROM tap_schema.schemas;

  INSERT INTO tap_schema.schemas VALUES
    ('xmm', NULL, 'The XMM-Newton serendipitous source catalogue (4XMM): sources, detections, observations, and the archive''s products', 0),
    ('tap_schema', NULL, 'The TAP_SCHEMA: description of the tables this service publishes', 1);
  INSERT INTO tap_schema.schemas
  SELECT n.nspname, NULL, obj_description(n.oid, 'pg_namespace'), CASE n.nspname WHEN 'ivoa' THEN 2 ELSE 3 END
    FROM pg_namespace n WHERE n.nspname IN ('ivoa', 'usr');

  CREATE TEMP TABLE tap_rel ON COMMIT DROP AS
  SELECT c.oid AS relid, n.nspname AS schema_name, n.nspname || '.' || c.relname AS table_name,
         CASE WHEN c.relkind IN ('v', 'm') THEN 'view' ELSE 'table' END AS table_type,
         obj_description(c.oid, 'pg_class') AS description,
         row_number() OVER (ORDER BY n.nspname DESC, c.relname)::int AS table_index
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'v', 'm', 'p') AND NOT c.relispartition
     AND ((n.nspname = 'xmm' AND obj_description(c.oid, 'pg_class') IS NOT NULL
           AND c.relname NOT IN (SELECT table_name FROM xmm.tap_unpublished))
          OR (n.nspname = 'tap_schema' AND c.relname IN ('schemas', 'tables', 'columns', 'keys', 'key_columns'))
          OR (n.nspname = 'usr' AND c.relname IN (SELECT table_name FROM xmm.user_table))
          OR (n.nspname = 'ivoa' AND c.relname = 'obscore'));

  INSERT INTO tap_schema.tables (schema_name, table_name, table_type, description, table_index)
  SELECT schema_name, table_name, table_type, description, table_index FROM tap_rel;

  CREATE TEMP TABLE tap_col ON COMMIT DROP AS
  SELECT r.relid, r.table_name, a.attnum, a.attname::text AS column_name, a.atttypid::regtype AS typ,
         col_description(r.relid, a.attnum) AS comment
    FROM tap_rel r JOIN pg_attribute a ON a.attrelid = r.relid
   WHERE a.attnum > 0 AND NOT a.attisdropped;

  -- Each table's identifier and main position, for the meta.main UCDs.
  CREATE TEMP TABLE tap_main ON COMMIT DROP AS
  SELECT r.relid,
         coalesce((SELECT a.attname::text FROM pg_constraint p JOIN pg_attribute a
                     ON a.attrelid = p.conrelid AND a.attnum = p.conkey[1]
                    WHERE p.conrelid = r.relid AND p.contype = 'p' AND cardinality(p.conkey) = 1),
                  (SELECT x FROM unnest(ARRAY['detid', 'srcid', 'obs_id']) WITH ORDINALITY u(x, o)
                    WHERE x IN (SELECT column_name FROM tap_col WHERE relid = r.relid) ORDER BY o LIMIT 1)) AS main_id,
         (SELECT x FROM unnest(ARRAY['ra', 'sc_ra', 'ra_pnt']) WITH ORDINALITY u(x, o)
           WHERE x IN (SELECT column_name FROM tap_col WHERE relid = r.relid) ORDER BY o LIMIT 1) AS main_ra,
         (SELECT x FROM unnest(ARRAY['dec', 'sc_dec', 'dec_pnt']) WITH ORDINALITY u(x, o)
           WHERE x IN (SELECT column_name FROM tap_col WHERE relid = r.relid) ORDER BY o LIMIT 1) AS main_dec
    FROM tap_rel r WHERE r.schema_name = 'xmm';

  -- Units, UCDs and descriptions: declared in xmm.column_meta (user and standard tables),
  -- else from the 4XMM naming (xmm.tap_column_meta); a column comment is the description.
  INSERT INTO tap_schema.columns (table_name, column_name, utype, ucd, unit, description, datatype, arraysize, xtype,
                                  principal, indexed, std, column_index)
  SELECT c.table_name, xmm.tap_quote_name(c.column_name), d.utype, coalesce(d.ucd, m.ucd), coalesce(d.unit, m.unit),
         coalesce(c.comment, d.description, m.description),
         v.datatype, v.arraysize, coalesce(d.xtype, v.xtype),
         CASE WHEN c.table_name LIKE 'tap_schema.%' OR coalesce(d.ucd, m.ucd) LIKE '%meta.main%'
                OR c.column_name IN ('iauname', 'obs_id', 'target', 'ep_8_flux', 'sc_ep_8_flux', 'sc_det_ml',
                                     'ep_8_det_ml', 'n_detections', 'mjd_start', 'sc_poserr', 'poserr')
              THEN 1 ELSE 0 END,
         CASE WHEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.relid
                             AND (c.attnum = i.indkey[0]
                                  OR (i.indexprs IS NOT NULL
                                      AND pg_get_indexdef(i.indexrelid) ~ ('[(, ]"?' || c.column_name || '"?[,)]'))))
              THEN 1 ELSE 0 END,
         CASE WHEN c.table_name LIKE 'tap_schema.%' THEN 1 ELSE 0 END,
         row_number() OVER (PARTITION BY c.table_name ORDER BY c.attnum)::int
    FROM tap_col c
    CROSS JOIN LATERAL xmm.tap_votable_type(c.typ) v
    LEFT JOIN tap_main k ON k.relid = c.relid
    LEFT JOIN xmm.column_meta d ON d.table_name = c.table_name AND d.column_name = c.column_name
    LEFT JOIN LATERAL xmm.tap_column_meta(c.column_name, k.main_id, k.main_ra, k.main_dec) m
           ON c.table_name LIKE 'xmm.%'
   WHERE v.datatype IS NOT NULL;

  -- Foreign keys between published tables (single- or multi-column).
  INSERT INTO tap_schema.keys (key_id, from_table, target_table, description)
  SELECT f.table_name || '.' || p.conname, f.table_name, t.table_name,
         format('%s references %s', f.table_name, t.table_name)
    FROM pg_constraint p JOIN tap_rel f ON f.relid = p.conrelid JOIN tap_rel t ON t.relid = p.confrelid
   WHERE p.contype = 'f';
  INSERT INTO tap_schema.key_columns (key_id, from_column, target_column)
  SELECT f.table_name || '.' || p.conname, xmm.tap_quote_name(fa.attname), xmm.tap_quote_name(ta.attname)
    FROM pg_constraint p JOIN tap_rel f ON f.relid = p.conrelid JOIN tap_rel t ON t.relid = p.confrelid
    CROSS JOIN LATERAL unnest(p.conkey, p.confkey) WITH ORDINALITY AS u(fk, tk, k)
    JOIN pg_attribute fa ON fa.attrelid = p.conrelid AND fa.attnum = u.fk
    JOIN pg_attribute ta ON ta.attrelid = p.confrelid AND ta.attnum = u.tk
   WHERE p.contype = 'f'
   ORDER BY 1, u.k;

  SELECT count(*) INTO n FROM tap_schema.tables;
  DROP TABLE tap_rel, tap_col, tap_main;
  PERFORM nextval('xmm.tap_schema_version');
  RETURN n;
END $$;

COMMENT ON FUNCTION xmm.tap_schema_refresh() IS
  'Re-fills TAP_SCHEMA from the catalogue (tables with comments in schema xmm, user tables of schema usr); returns the number of published tables';

-- After every load (a transaction that writes xmm.load_log, as all loaders do),
-- TAP_SCHEMA is refilled once, at commit. A refresh that cannot run (another
-- one in progress, missing privileges) never fails the load: it warns.
CREATE FUNCTION xmm.tap_schema_after_load() RETURNS trigger
LANGUAGE plpgsql SET search_path = xmm, pg_catalog, pg_temp AS $$
BEGIN
  IF current_setting('xmm.tap_schema_refreshed', true) IS DISTINCT FROM txid_current()::text THEN
    PERFORM set_config('xmm.tap_schema_refreshed', txid_current()::text, true);
    IF pg_try_advisory_xact_lock(hashtext('xmm.tap_schema_refresh')) THEN
      BEGIN
        PERFORM xmm.tap_schema_refresh();
      EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'TAP_SCHEMA was not refreshed after this load: %', SQLERRM
          USING HINT = 'SELECT xmm.tap_schema_refresh() as the database owner refills it';
      END;
    END IF;
  END IF;
  RETURN NULL;
END $$;
