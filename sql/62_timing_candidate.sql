-- Pulsation-search results that are kept (docs/timing.md).

-- Kept with the options and the software that produced them.
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
    searched_at    timestamptz NOT NULL DEFAULT now(),
    best_fdot      double precision,
    search_fap     double precision
);
CREATE INDEX timing_candidate_srcid_idx ON xmm.timing_candidate (srcid);
COMMENT ON TABLE xmm.timing_candidate IS
  'Kept pulsation-search results: INSERT INTO xmm.timing_candidate (srcid, best_frequency, fap, n_photons, '
  'n_trials, statistic, candidates, skipped, options, software) SELECT s.srcid, …, r.settings, r.software '
  'FROM … CROSS JOIN LATERAL xmm_pulsation_search(s.srcid) r';
SELECT pg_catalog.pg_extension_config_dump('xmm.timing_candidate', '');
SELECT pg_catalog.pg_extension_config_dump('xmm.timing_candidate_candidate_id_seq', '');
