-- Blind pulsation searches over many sources (xmmdb.timing.api.pulsation_search, docs/timing.md).

-- One source's search with a band that follows its data (fmin = 2/T, fmax = 1/(2 frame) of its
-- fastest exposure unless given) and a bounded cost (max_work photons x frequencies x
-- harmonics: the band is cut, with a NOTICE); a source too faint or without photons gives a
-- row that says why (skipped), so that one statement can search any set of sources:
--   SELECT p.* FROM xmm_search('n_detections >= 2') s CROSS JOIN LATERAL xmm_pulsation_search(s.srcid) p;
-- The row's fap is the source's own; over a search of K sources the chance of any false
-- detection is 1 - (1 - fap)^K (docs/timing.md).
-- python front: xmmdb.timing.api.pulsation_search(db, srcid, options, notice=notice)
CREATE FUNCTION xmm.xmm_pulsation_search(srcid bigint, options jsonb DEFAULT '{}')
RETURNS TABLE (n_photons integer, fmin double precision, fmax double precision,
               best_frequency double precision, best_period double precision, best_fdot double precision,
               best_power double precision,
               fap double precision, n_trials double precision, statistic text, candidates jsonb, skipped text,
               software text, settings jsonb) STABLE;

COMMENT ON FUNCTION xmm.xmm_pulsation_search(bigint, jsonb) IS
  'A bounded blind pulsation search of one source (exposure-corrected Z^2_2 from 2/T to the fastest camera''s '
  'limit, the fundamental among its relatives): one row, with skipped saying why when the source is not '
  'searched, settings the options as used; options: those of xmm_periodogram plus fmin, fmax, min_photons (50), '
  'max_work (2e9)';

-- 1 - (1 - p)^n, the chance that any of n independent trials is as extreme as p: as n p where
-- 1 - p would round, and without the underflow PostgreSQL raises for (1 - p)^n below 1e-308.
-- PostgreSQL has no log1p or expm1: ln(1 - p) and 1 - exp(x) lose the digits of a small p or
-- x, so they are taken from their series there (to 1e-12 relative).
CREATE FUNCTION xmm.chance_of_any(p double precision, n integer) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN n <= 0 OR p <= 0 THEN GREATEST(p, 0.0::double precision)
              WHEN p >= 1 THEN 1.0::double precision
              WHEN p < 1e-10 THEN LEAST(1.0::double precision, n * p)
              WHEN x > -1e-5 THEN -x * (1 + x / 2 + x * x / 6)
              ELSE 1 - exp(GREATEST(x, -700)) END
    FROM (SELECT n * CASE WHEN p < 1e-4 THEN -(p + p * p / 2 + p * p * p / 3) ELSE ln(1 - p) END AS x) s
$$;

-- Many sources in one call, for a survey: each searched once, progress said every 30 s as a
-- NOTICE, and the chance of the whole search beside each source's own:
--   search_fap = 1 - (1 - fap)^n_searched, n_searched the sources searched (not skipped).
--   SELECT * FROM xmm_pulsation_survey(ARRAY(SELECT srcid FROM xmm_search('n_detections >= 2')))
--    WHERE search_fap < 0.01;
-- python: xmmdb.timing.api.pulsation_survey(db, srcids, options, notice=notice)
CREATE FUNCTION xmm.python_pulsation_survey(srcids bigint[], options jsonb)
RETURNS TABLE (srcid bigint, n_photons integer, fmin double precision, fmax double precision,
               best_frequency double precision, best_period double precision, best_fdot double precision,
               best_power double precision, fap double precision, n_trials double precision, statistic text,
               candidates jsonb, skipped text, software text, settings jsonb) STABLE;

CREATE FUNCTION xmm.xmm_pulsation_survey(srcids bigint[], options jsonb DEFAULT '{}')
RETURNS TABLE (srcid bigint, n_photons integer, fmin double precision, fmax double precision,
               best_frequency double precision, best_period double precision, best_fdot double precision,
               best_power double precision, fap double precision, search_fap double precision,
               n_searched integer, n_trials double precision, statistic text, candidates jsonb, skipped text,
               software text, settings jsonb)
LANGUAGE plpgsql STABLE SET search_path = xmm, public, pg_temp AS $$
DECLARE msg text; detail text; hint text; state text; ctx text;
BEGIN
  -- the whole search's chance: a window over the rows (PostgreSQL holds them, spilling to disk)
  RETURN QUERY
  SELECT r.srcid, r.n_photons, r.fmin, r.fmax, r.best_frequency, r.best_period, r.best_fdot, r.best_power, r.fap,
         xmm.chance_of_any(r.fap, r.n),
         r.n, r.n_trials, r.statistic, r.candidates, r.skipped, r.software, r.settings
    FROM (SELECT p.*, (pg_catalog.count(*) FILTER (WHERE p.skipped IS NULL) OVER ())::integer AS n
            FROM xmm.python_pulsation_survey(srcids, options) p) r;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT,
                          state = RETURNED_SQLSTATE, ctx = PG_EXCEPTION_CONTEXT;
  -- PL/Python reports an error while it streams rows under its own words, the error's as detail
  IF msg = 'error fetching next item from iterator' AND detail <> '' THEN msg := detail; END IF;
  PERFORM xmm.raise_error(msg, hint, state, ctx);
END $$;

COMMENT ON FUNCTION xmm.xmm_pulsation_survey(bigint[], jsonb) IS
  'xmm_pulsation_search of each source of the array (at most 1,000,000, each once), saying how far it is every '
  '30 s; search_fap is the chance of a peak as high anywhere in the n_searched sources searched: select on it, '
  'not on fap; options: those of xmm_pulsation_search';


