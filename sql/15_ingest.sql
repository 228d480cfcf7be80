-- Ingestion inside the database. A loader (xmmdb load …) only reads files:
--   1. SELECT xmm.stage('catalogue')        -> a temp table shaped like the format's view
--   2. COPY the file's rows into it (with row_no, 1-based as in the file)
--   3. SELECT * FROM xmm.ingest_catalogue(file, columns)   -> validates and upserts
-- all in the caller's transaction, so a rejected file writes nothing.
-- Upserts change only rows whose values differ: reloading a file is a no-op.

CREATE TABLE xmm.load_log (
    load_id    bigserial PRIMARY KEY,
    format     text NOT NULL,
    file       text NOT NULL,
    sha256     text NOT NULL,
    n_rows     bigint NOT NULL,
    summary    jsonb NOT NULL,
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    loaded_by  text NOT NULL DEFAULT current_user
);
COMMENT ON TABLE xmm.load_log IS 'One row per file loaded by xmmdb load (checksum, row count, what changed)';

-- Formats the loader understands, each shaped like a view of the schema.
CREATE FUNCTION xmm.format_view(format text) RETURNS regclass
LANGUAGE sql STABLE AS $$
  SELECT CASE format
    WHEN 'catalogue' THEN 'xmm.catalogue'::regclass
    WHEN 'observation_list' THEN 'xmm.observation_list'::regclass
  END
$$;

-- Creates (or empties) the session's staging table for a format and returns its name.
CREATE FUNCTION xmm.stage(format text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v regclass := xmm.format_view(format);
  t text := 'stage_' || format;
BEGIN
  IF v IS NULL THEN
    RAISE EXCEPTION 'unknown load format "%"', format USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF to_regclass('pg_temp.' || t) IS NOT NULL THEN
    EXECUTE format('DROP TABLE pg_temp.%I', t);
  END IF;
  EXECUTE format('CREATE TEMP TABLE %I ON COMMIT DROP AS SELECT 0::bigint AS row_no, * FROM %s WITH NO DATA', t, v);
  RETURN 'pg_temp.' || t;
END $$;

-- Raises a data_exception naming the file, column and first offending row.
CREATE FUNCTION xmm.reject(file text, what text, col text, row_no bigint, n bigint, hint text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'data_exception',
    MESSAGE = format('%s: column %s: %s in row %s%s', file, upper(col), what, row_no,
                     CASE WHEN n > 1 THEN format(' (and %s more rows)', n - 1) ELSE '' END),
    HINT = coalesce(hint, 'nothing was written; fix the file and load it again');
END $$;

-- Checks a staged file: required values present, positions finite and on the
-- sky, keys unique. Rejects with the first problem found.
CREATE FUNCTION xmm.check_stage(stage regclass, format text, file text, columns text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  c text; r record; keys text[];
BEGIN
  FOREACH c IN ARRAY xmm.required_columns(format) LOOP
    IF NOT c = ANY (columns) THEN
      RAISE EXCEPTION '%: required column % is missing', file, upper(c)
        USING ERRCODE = 'data_exception', HINT = format('the %s format requires the columns %s', format,
              upper(array_to_string(xmm.required_columns(format), ', ')));
    END IF;
    EXECUTE format('SELECT min(row_no) AS first, count(*) AS n FROM %s WHERE %I IS NULL', stage, c) INTO r;
    IF r.n > 0 THEN PERFORM xmm.reject(file, 'no value (empty or NaN)', c, r.first, r.n); END IF;
  END LOOP;

  FOREACH c IN ARRAY ARRAY['ra', 'dec', 'sc_ra', 'sc_dec', 'ra_pnt', 'dec_pnt'] LOOP
    CONTINUE WHEN NOT c = ANY (columns);
    EXECUTE format($q$SELECT min(row_no) AS first, count(*) AS n FROM %1$s
                      WHERE %2$I IN ('NaN', 'Infinity', '-Infinity')
                         OR %2$I NOT BETWEEN %3$s$q$, stage, c,
                   CASE WHEN c LIKE '%dec%' THEN '-90 AND 90' ELSE '0 AND 360' END) INTO r;
    IF r.n > 0 THEN
      PERFORM xmm.reject(file, 'position is not a finite sky coordinate', c, r.first, r.n,
                         'RA must be in [0, 360) and Dec in [-90, 90] degrees; nothing was written');
    END IF;
  END LOOP;

  IF 'obs_id' = ANY (columns) THEN
    EXECUTE format($q$SELECT min(row_no) AS first, count(*) AS n, (array_agg(obs_id ORDER BY row_no))[1] AS v
                      FROM %s WHERE obs_id !~ '^[0-9]{10}$'$q$, stage) INTO r;
    IF r.n > 0 THEN
      PERFORM xmm.reject(file, format('%L is not a 10-digit observation id', r.v), 'obs_id', r.first, r.n);
    END IF;
  END IF;

  keys := CASE format WHEN 'catalogue' THEN ARRAY['detid', 'obs_id, src_num'] ELSE ARRAY['obs_id'] END;
  FOREACH c IN ARRAY keys LOOP
    EXECUTE format('SELECT min(row_no) AS first, max(row_no) AS second, count(*) AS n FROM %s
                     GROUP BY %s HAVING count(*) > 1 ORDER BY 1 LIMIT 1', stage, c) INTO r;
    IF r.n IS NOT NULL THEN
      RAISE EXCEPTION '%: duplicate key (%) in rows % and %', file, upper(c), r.first, r.second
        USING ERRCODE = 'unique_violation', HINT = 'each key may appear once per file; nothing was written';
    END IF;
  END LOOP;

  IF format = 'catalogue' THEN
    SELECT min(row_no) AS first, iauname INTO r FROM pg_temp.stage_catalogue
     GROUP BY iauname HAVING count(DISTINCT srcid) > 1 ORDER BY 1 LIMIT 1;
    IF r.first IS NOT NULL THEN
      PERFORM xmm.reject(file, format('IAU name %s is given to more than one SRCID', r.iauname), 'iauname', r.first, 1);
    END IF;
  END IF;
END $$;

-- Inserts rows of `src` missing from `target` and updates those whose values
-- differ, on the columns both share among `columns`. Columns in `insert_only`
-- are written for new rows only; with `keep_nulls`, a NULL never overwrites a value.
CREATE FUNCTION xmm.upsert(target regclass, src regclass, key text, columns text[],
                           insert_only text[] DEFAULT '{}', keep_nulls boolean DEFAULT false,
                           OUT inserted bigint, OUT updated bigint, OUT unchanged bigint)
LANGUAGE plpgsql AS $$
DECLARE
  cols text[]; upd text[]; total bigint;
BEGIN
  SELECT array_agg(quote_ident(a.attname) ORDER BY a.attnum) FILTER (WHERE true),
         array_agg(quote_ident(a.attname) ORDER BY a.attnum)
           FILTER (WHERE a.attname <> ALL (insert_only) AND a.attname <> ALL (string_to_array(key, ', ')))
    INTO cols, upd
    FROM pg_attribute a
   WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped
     AND a.attname = ANY (columns)
     AND EXISTS (SELECT 1 FROM pg_attribute b WHERE b.attrelid = src AND b.attname = a.attname AND NOT b.attisdropped);
  EXECUTE format('SELECT count(*) FROM %s', src) INTO total;
  EXECUTE format(
    'WITH up AS (INSERT INTO %1$s AS t (%2$s) SELECT %2$s FROM %3$s
                 ON CONFLICT (%4$s) DO UPDATE SET (%5$s) = ROW(%6$s)
                 WHERE (%7$s) IS DISTINCT FROM (%6$s)
                 RETURNING (xmax = 0) AS is_new)
     SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE NOT is_new) FROM up',
    target, array_to_string(cols, ', '), src, key, array_to_string(upd, ', '),
    (SELECT string_agg(CASE WHEN keep_nulls THEN format('coalesce(excluded.%s, t.%s)', u, u)
                            ELSE 'excluded.' || u END, ', ') FROM unnest(upd) u),
    (SELECT string_agg('t.' || u, ', ') FROM unnest(upd) u))
  INTO inserted, updated;
  unchanged := total - inserted - updated;
END $$;

-- Splits a staged 4XMM catalogue into observation, source and detection.
CREATE FUNCTION xmm.ingest_catalogue(file text, columns text[])
RETURNS TABLE (table_name text, inserted bigint, updated bigint, unchanged bigint)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM xmm.check_stage('pg_temp.stage_catalogue', 'catalogue', file, columns);

  -- Observations seen in the catalogue; until an observation list gives the
  -- pointing, the mean detection position stands in for it.
  CREATE TEMP TABLE stage_obs ON COMMIT DROP AS
  SELECT o.*, xmm.epic_footprint(o.ra_pnt, o.dec_pnt) AS footprint
    FROM (SELECT DISTINCT ON (obs_id) s.*, avg(ra) OVER w AS ra_pnt, avg(dec) OVER w AS dec_pnt
            FROM pg_temp.stage_catalogue s WINDOW w AS (PARTITION BY obs_id) ORDER BY obs_id, row_no) o;
  CREATE TEMP TABLE stage_src ON COMMIT DROP AS
  SELECT DISTINCT ON (srcid) * FROM pg_temp.stage_catalogue ORDER BY srcid, row_no;

  RETURN QUERY SELECT 'observation', u.* FROM xmm.upsert('xmm.observation', 'pg_temp.stage_obs', 'obs_id',
      columns || ARRAY['ra_pnt', 'dec_pnt', 'footprint'], ARRAY['ra_pnt', 'dec_pnt', 'footprint', 'target'], true) u;
  RETURN QUERY SELECT 'source', u.* FROM xmm.upsert('xmm.source', 'pg_temp.stage_src', 'srcid', columns) u;
  RETURN QUERY SELECT 'detection', u.* FROM xmm.upsert('xmm.detection', 'pg_temp.stage_catalogue', 'detid', columns) u;
  DROP TABLE pg_temp.stage_obs, pg_temp.stage_src;
END $$;

-- Loads an observation list: pointing, target and footprint of each observation.
CREATE FUNCTION xmm.ingest_observation_list(file text, columns text[])
RETURNS TABLE (table_name text, inserted bigint, updated bigint, unchanged bigint)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM xmm.check_stage('pg_temp.stage_observation_list', 'observation_list', file, columns);
  CREATE TEMP TABLE stage_obs ON COMMIT DROP AS
  SELECT s.*, xmm.epic_footprint(ra_pnt, dec_pnt) AS footprint FROM pg_temp.stage_observation_list s;
  RETURN QUERY SELECT 'observation', u.* FROM xmm.upsert('xmm.observation', 'pg_temp.stage_obs', 'obs_id',
      columns || ARRAY['footprint']) u;
  DROP TABLE pg_temp.stage_obs;
END $$;

-- After a load: order the catalogue tables along the Q3C index (cone searches
-- then read few pages) and refresh planner statistics.
CREATE FUNCTION xmm.recluster() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  CLUSTER xmm.source USING source_q3c_idx;
  CLUSTER xmm.detection USING detection_q3c_idx;
  ANALYZE xmm.observation;
  ANALYZE xmm.source;
  ANALYZE xmm.detection;
END $$;
