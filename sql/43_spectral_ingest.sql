-- Loading spectral products (xmmdb load responses|products) follows
-- sql/15_ingest.sql: the loader reads files and COPYs them into the session's
-- staging tables (xmm.stage_products()), then xmm.ingest_responses() /
-- xmm.ingest_products() validate, upsert and resolve links in the caller's
-- transaction.

-- The session's staging tables for one load (dropped at commit).
CREATE FUNCTION xmm.stage_products() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF to_regclass('pg_temp.stage_response') IS NOT NULL THEN DROP TABLE pg_temp.stage_response; END IF;
  IF to_regclass('pg_temp.stage_spectrum') IS NOT NULL THEN DROP TABLE pg_temp.stage_spectrum; END IF;
  CREATE TEMP TABLE stage_response ON COMMIT DROP AS
    SELECT 0::bigint AS row_no, kind, name, names, sha256, instrument, energ_lo, energ_hi, specresp,
           detchans, chan_offset, e_min, e_max, n_grp, f_chan, n_chan, matrix, canned
      FROM xmm.response WITH NO DATA;
  CREATE TEMP TABLE stage_spectrum ON COMMIT DROP AS
    SELECT 0::bigint AS row_no, file, obs_id, kind, instrument, exp_id, src_num, ra, dec, exposure, backscal,
           areascal, channel_first, detchans, counts, quality, grouping, total_counts, backfile, respfile,
           ancrfile, header, sha256,
           ''::text AS background_file, ''::text AS background_obs_id, ''::text AS rmf_sha256,
           ''::text AS arf_sha256
      FROM xmm.spectrum WITH NO DATA;
END $$;

-- Responses: inserted once per content; a known content under a new file name gains the name,
-- and becomes canned when it is loaded into the store.
CREATE FUNCTION xmm.ingest_responses()
RETURNS TABLE (table_name text, inserted bigint, updated bigint, unchanged bigint)
LANGUAGE plpgsql AS $$
DECLARE
  r record; total bigint; ins bigint; upd bigint;
BEGIN
  SELECT min(row_no) AS first, name INTO r FROM pg_temp.stage_response
   WHERE kind = 'rmf' AND (matrix IS NULL OR detchans IS NULL OR detchans <= 0) GROUP BY name LIMIT 1;
  IF r.first IS NOT NULL THEN
    RAISE EXCEPTION '%: not a usable RMF (no MATRIX or DETCHANS)', r.name USING ERRCODE = 'data_exception';
  END IF;
  SELECT count(*) INTO total FROM (SELECT DISTINCT sha256 FROM pg_temp.stage_response) s;
  WITH merged AS (
    SELECT DISTINCT ON (sha256) s.*, (SELECT array_agg(DISTINCT n ORDER BY n) FROM pg_temp.stage_response s2,
                                       unnest(s2.names) n WHERE s2.sha256 = s.sha256) AS all_names,
           (SELECT bool_or(s2.canned) FROM pg_temp.stage_response s2 WHERE s2.sha256 = s.sha256) AS any_canned
      FROM pg_temp.stage_response s ORDER BY sha256, row_no),
  up AS (
    INSERT INTO xmm.response AS t (kind, name, names, sha256, instrument, energ_lo, energ_hi, specresp, detchans,
                                   chan_offset, e_min, e_max, n_grp, f_chan, n_chan, matrix, canned)
    SELECT kind, name, all_names, sha256, instrument, energ_lo, energ_hi, specresp, detchans, chan_offset,
           e_min, e_max, n_grp, f_chan, n_chan, matrix, coalesce(any_canned, false) FROM merged
    ON CONFLICT (sha256) DO UPDATE
       SET names = ARRAY(SELECT DISTINCT n FROM unnest(t.names || excluded.names) n ORDER BY n),
           canned = t.canned OR excluded.canned
     WHERE NOT excluded.names <@ t.names OR excluded.canned AND NOT t.canned
    RETURNING (xmax = 0) AS is_new)
  SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE NOT is_new) INTO ins, upd FROM up;
  RETURN QUERY SELECT 'response'::text, ins, upd, total - ins - upd;
END $$;

-- Spectra: validated, upserted on (obs_id, file), then linked to their
-- detection (obs_id + src_num, else the nearest detection of the observation
-- within 15"), background, RMF and ARF; cached fits of those detections are
-- dropped. A spectrum whose RMF is neither in
-- the load nor in the response store is rejected with the RMF's name.
CREATE FUNCTION xmm.ingest_products()
RETURNS TABLE (table_name text, inserted bigint, updated bigint, unchanged bigint)
LANGUAGE plpgsql AS $$
DECLARE
  r record; c text; cols text[];
BEGIN
  FOREACH c IN ARRAY ARRAY['file', 'obs_id', 'kind', 'instrument', 'exposure', 'backscal', 'areascal',
                           'channel_first', 'counts', 'total_counts', 'sha256'] LOOP
    EXECUTE format('SELECT min(row_no) AS first, count(*) AS n, min(file) AS file FROM pg_temp.stage_spectrum
                     WHERE %I IS NULL', c) INTO r;
    IF r.n > 0 THEN PERFORM xmm.reject(coalesce(r.file, 'spectrum'), 'no value', c, r.first, r.n); END IF;
  END LOOP;
  SELECT min(row_no) AS first, max(row_no) AS second, obs_id, file INTO r FROM pg_temp.stage_spectrum
   GROUP BY obs_id, file HAVING count(*) > 1 LIMIT 1;
  IF r.first IS NOT NULL THEN
    RAISE EXCEPTION '%: the same spectrum file is given twice in this load', r.file
      USING ERRCODE = 'unique_violation', HINT = 'name each file once; nothing was written';
  END IF;
  -- An RMF not in the load is found by name among the canned RMFs only, and the
  -- name must mean one content: a per-observation file name (PN.rmf) found in the
  -- store may be another observation's response.
  SELECT s.file, s.respfile,
         (SELECT array_agg(format('%s (response %s, loaded %s)', x.name, x.response_id, x.loaded_at::date)
                           ORDER BY x.response_id)
            FROM xmm.response x WHERE x.kind = 'rmf' AND x.canned AND x.names @> ARRAY[s.respfile]) AS canned,
         (SELECT count(*) FROM xmm.response x WHERE x.kind = 'rmf' AND NOT x.canned AND x.names @> ARRAY[s.respfile])
           AS others
    INTO r FROM pg_temp.stage_spectrum s
   WHERE s.kind = 'source' AND coalesce(s.rmf_sha256, '') = ''
     AND (s.respfile IS NULL
          OR (SELECT count(*) FROM xmm.response x WHERE x.kind = 'rmf' AND x.canned AND x.names @> ARRAY[s.respfile]) <> 1)
   ORDER BY s.row_no LIMIT 1;
  IF FOUND THEN
    IF r.respfile IS NULL THEN
      RAISE EXCEPTION '%: the spectrum names no RMF (RESPFILE)', r.file USING ERRCODE = 'data_exception',
        HINT = 'name it: xmmdb load products FILE --rmf RMF; nothing was written';
    ELSIF cardinality(r.canned) > 1 THEN
      RAISE EXCEPTION '%: RMF % (RESPFILE) names % different canned RMFs: %', r.file, r.respfile,
        cardinality(r.canned), array_to_string(r.canned, ', ') USING ERRCODE = 'data_exception',
        HINT = 'name the right one: xmmdb load products FILE --rmf RMF; nothing was written';
    ELSE
      RAISE EXCEPTION '%: RMF % (RESPFILE) is neither beside the spectrum nor a canned RMF of the response store%',
        r.file, r.respfile,
        CASE WHEN r.others > 0 THEN format(' (%s response(s) loaded with other spectra have that name, but a name '
                                           'alone does not say they are this spectrum''s)', r.others) ELSE '' END
        USING ERRCODE = 'data_exception',
        HINT = 'load the canned responses first (xmmdb load responses DIR), put the RMF beside the spectrum, '
               'or name it: xmmdb load products FILE --rmf RMF; nothing was written';
    END IF;
  END IF;

  SELECT array_agg(attname::text) INTO cols FROM pg_attribute
   WHERE attrelid = 'pg_temp.stage_spectrum'::regclass AND attnum > 0 AND NOT attisdropped;
  RETURN QUERY SELECT 'spectrum', u.* FROM xmm.upsert('xmm.spectrum', 'pg_temp.stage_spectrum', 'obs_id, file', cols) u;

  -- Links, written only where they change (a reload stays a no-op).
  WITH links AS (
    SELECT x.spectrum_id,
           coalesce((SELECT d.detid FROM xmm.detection d WHERE d.obs_id = s.obs_id AND d.src_num = s.src_num),
                    (SELECT d.detid FROM xmm.detection d
                      WHERE s.src_num IS NULL AND s.ra IS NOT NULL AND d.obs_id = s.obs_id
                        AND q3c_join(s.ra, s.dec, d.ra, d.dec, 15.0 / 3600)
                      ORDER BY q3c_dist(s.ra, s.dec, d.ra, d.dec) LIMIT 1)) AS detid,
           (SELECT b.spectrum_id FROM xmm.spectrum b WHERE b.obs_id = s.background_obs_id AND b.file = s.background_file)
             AS background_id,
           coalesce((SELECT x2.response_id FROM xmm.response x2 WHERE x2.sha256 = nullif(s.rmf_sha256, '')),
                    (SELECT x2.response_id FROM xmm.response x2
                      WHERE x2.kind = 'rmf' AND x2.canned AND x2.names @> ARRAY[s.respfile])) AS rmf_id,
           (SELECT x2.response_id FROM xmm.response x2 WHERE x2.sha256 = nullif(s.arf_sha256, '')) AS arf_id
      FROM pg_temp.stage_spectrum s JOIN xmm.spectrum x USING (obs_id, file))
  UPDATE xmm.spectrum x SET detid = l.detid, background_id = l.background_id, rmf_id = l.rmf_id, arf_id = l.arf_id
    FROM links l
   WHERE x.spectrum_id = l.spectrum_id
     AND (x.detid, x.background_id, x.rmf_id, x.arf_id) IS DISTINCT FROM (l.detid, l.background_id, l.rmf_id, l.arf_id);

  -- Reloading a detection's products makes its cached fits stale.
  DELETE FROM xmm.fit_cache c
   USING (SELECT array_agg(x.spectrum_id) AS ids, array_agg(DISTINCT x.detid) AS detids
            FROM xmm.spectrum x JOIN pg_temp.stage_spectrum s USING (obs_id, file)) changed
   WHERE c.spectrum_ids && changed.ids OR c.detid = ANY (changed.detids);
END $$;
