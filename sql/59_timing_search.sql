-- Blind pulsation searches over many sources (xmmdb.timing.api.pulsation_search, docs/timing.md).

-- One source's search with a band that follows its data (fmin = 2/T, fmax = 1/(2 frame) of its
-- fastest exposure unless given) and a bounded cost (max_work photons x frequencies x
-- harmonics: the band is cut, with a NOTICE); a source too faint or without photons gives a
-- row that says why (skipped), so that one statement can search any set of sources:
--   SELECT p.* FROM xmm_search('n_detections >= 2') s CROSS JOIN LATERAL xmm_pulsation_search(s.srcid) p;
-- The row's fap is the source's own; over a search of K sources the chance of any false
-- detection is 1 - (1 - fap)^K (docs/timing.md).
CREATE FUNCTION xmm.python_pulsation_search(srcid bigint, options jsonb)
RETURNS TABLE (n_photons integer, fmin double precision, fmax double precision,
               best_frequency double precision, best_period double precision, best_power double precision,
               fap double precision, n_trials double precision, statistic text, candidates jsonb, skipped text,
               software text, settings jsonb)
LANGUAGE plpython3u STABLE SET search_path = xmm, public, pg_temp AS $$
GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
from xmmdb.pg import Spi, call; from xmmdb.timing.api import pulsation_search
return [call(plpy, pulsation_search, Spi(plpy), srcid, options, notice=plpy.notice)]
$$;

CREATE FUNCTION xmm.xmm_pulsation_search(srcid bigint, options jsonb DEFAULT '{}')
RETURNS TABLE (n_photons integer, fmin double precision, fmax double precision,
               best_frequency double precision, best_period double precision, best_power double precision,
               fap double precision, n_trials double precision, statistic text, candidates jsonb, skipped text,
               software text, settings jsonb)
LANGUAGE plpgsql STABLE SET search_path = xmm, public, pg_temp AS $$
DECLARE msg text; hint text; state text; ctx text;
BEGIN
  RETURN QUERY SELECT * FROM xmm.python_pulsation_search(srcid, options);
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE,
                          ctx = PG_EXCEPTION_CONTEXT;
  PERFORM xmm.raise_error(msg, hint, state, ctx);
END $$;

COMMENT ON FUNCTION xmm.xmm_pulsation_search(bigint, jsonb) IS
  'A bounded blind pulsation search of one source (exposure-corrected Z^2_2 from 2/T to the fastest camera''s '
  'limit, the fundamental among its relatives): one row, with skipped saying why when the source is not '
  'searched, settings the options as used; options: those of xmm_periodogram plus fmin, fmax, min_photons (50), '
  'max_work (2e9)';

-- Results of searches that are kept: with the options and the software that produced them.
CREATE TABLE xmm.timing_candidate (
    candidate_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    srcid          bigint NOT NULL,
    best_frequency double precision,
    fap            double precision,
    n_photons      integer,
    n_trials       double precision,
    statistic      text,
    candidates     jsonb,
    skipped        text,
    options        jsonb NOT NULL,
    software       text NOT NULL,
    searched_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX timing_candidate_srcid_idx ON xmm.timing_candidate (srcid);
COMMENT ON TABLE xmm.timing_candidate IS
  'Kept pulsation-search results: INSERT INTO xmm.timing_candidate (srcid, best_frequency, fap, n_photons, '
  'n_trials, statistic, candidates, skipped, options, software) SELECT s.srcid, …, r.settings, r.software '
  'FROM … CROSS JOIN LATERAL xmm_pulsation_search(s.srcid) r';
SELECT pg_catalog.pg_extension_config_dump('xmm.timing_candidate', '');
SELECT pg_catalog.pg_extension_config_dump('xmm.timing_candidate_candidate_id_seq', '');
