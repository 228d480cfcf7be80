-- Spectral products and fits at SQL level: staging by hand (as the loader does with
-- COPY), response deduplication, detection links, a fit of a toy spectrum, the cache
-- and its invalidation, clear errors.
SET search_path = xmm, public;
\set SHOW_CONTEXT never

BEGIN;
-- A detection to link to.
INSERT INTO xmm.observation (obs_id, mjd_start, mjd_stop) VALUES ('0999999901', 58000, 58001);
INSERT INTO xmm.source (srcid, iauname, sc_ra, sc_dec, n_detections) VALUES (990001, '4XMM J000000.0+000000', 0.5, 0.5, 1);
INSERT INTO xmm.detection (detid, srcid, obs_id, src_num, ra, dec, ep_8_det_ml) VALUES (990001, 990001, '0999999901', 10, 0.5, 0.5, 100);

-- A toy response: 40 energy bins of 0.25 keV from 0.5 keV onto 40 channels (diagonal),
-- stored as Sherpa's compressed little-endian vectors; a flat 100 cm2 ARF.
CREATE FUNCTION pg_temp.le32(i int) RETURNS bytea LANGUAGE sql AS
  $$ SELECT decode(lpad(to_hex(i), 2, '0') || '000000', 'hex') $$;
SELECT xmm.stage_products();
-- The toy RMF is a canned one (of the response store): spectra find it by name.
INSERT INTO pg_temp.stage_response (row_no, kind, name, names, sha256, energ_lo, energ_hi, detchans, chan_offset,
                                    e_min, e_max, n_grp, f_chan, n_chan, matrix, canned)
SELECT 1, 'rmf', 'toy.rmf', ARRAY['toy.rmf'], 'toy-rmf', lo, hi, 40, 0, lo, hi,
       (SELECT string_agg(pg_temp.le32(1), ''::bytea) FROM generate_series(1, 40)),
       (SELECT string_agg(pg_temp.le32(i), ''::bytea ORDER BY i) FROM generate_series(0, 39) i),
       (SELECT string_agg(pg_temp.le32(1), ''::bytea) FROM generate_series(1, 40)),
       (SELECT string_agg(decode('0000803f', 'hex'), ''::bytea) FROM generate_series(1, 40)), true
  FROM (SELECT array_agg(0.5 + 0.25 * i ORDER BY i) AS lo, array_agg(0.75 + 0.25 * i ORDER BY i) AS hi
          FROM generate_series(0, 39) i) g;
INSERT INTO pg_temp.stage_response (row_no, kind, name, names, sha256, energ_lo, energ_hi, specresp)
SELECT 2, 'arf', 'toy.arf', ARRAY['toy.arf'], 'toy-arf', lo, hi, array_fill(100.0::float8, ARRAY[40])
  FROM (SELECT array_agg(0.5 + 0.25 * i ORDER BY i) AS lo, array_agg(0.75 + 0.25 * i ORDER BY i) AS hi
          FROM generate_series(0, 39) i) g;
-- The same RMF content under a second name is the same response.
INSERT INTO pg_temp.stage_response (row_no, kind, name, names, sha256, energ_lo, energ_hi, detchans, chan_offset,
                                    e_min, e_max, n_grp, f_chan, n_chan, matrix, canned)
SELECT 3, kind, 'toy2.rmf', ARRAY['toy2.rmf'], sha256, energ_lo, energ_hi, detchans, chan_offset, e_min, e_max,
       n_grp, f_chan, n_chan, matrix, canned FROM pg_temp.stage_response WHERE row_no = 1;
-- Counts of a power law (Gamma 2, norm 0.01) over 1e4 s through 100 cm2, rounded: no noise.
INSERT INTO pg_temp.stage_spectrum (row_no, file, obs_id, kind, instrument, src_num, exposure, backscal, areascal,
                                    channel_first, detchans, counts, total_counts, respfile, ancrfile, sha256,
                                    background_file, rmf_sha256, arf_sha256)
SELECT 1, 'P0999999901PNS001SRSPEC000A.FTZ', '0999999901', 'source', 'EPN', 10, 1e4, 1, 1, 0, 40, c,
       (SELECT sum(x) FROM unnest(c) x), 'toy2.rmf', 'toy.arf', 'spec-1', '', '', 'toy-arf'
  FROM (SELECT array_agg(round(0.01 * 100 * 1e4 * (1 / (0.5 + 0.25 * i) - 1 / (0.75 + 0.25 * i))) ORDER BY i) AS c
          FROM generate_series(0, 39) i) g;
SELECT * FROM xmm.ingest_responses();
SELECT * FROM xmm.ingest_products();
SELECT kind, name, names FROM xmm.response WHERE sha256 LIKE 'toy%' ORDER BY kind;
SELECT s.file, s.detid, r.name AS rmf, a.name AS arf, s.total_counts
  FROM xmm.spectrum s JOIN xmm.response r ON r.response_id = s.rmf_id JOIN xmm.response a ON a.response_id = s.arf_id
 WHERE s.obs_id = '0999999901';

-- The fit recovers the power law; a second call is served from the cache.
SELECT instrument, expression, statistic, nbins, dof, cached,
       round((params->0->>'value')::numeric, 3) AS gamma, round((params->1->>'value')::numeric, 5) AS norm
  FROM xmm_fit_detection(990001, 'PN', 'powerlaw', '{"group": 0, "stat": "cstat", "emin": 0.5, "emax": 10}');
SELECT cached, round((params->0->>'value')::numeric, 3) AS gamma
  FROM xmm_fit(990001, 'powerlaw', '{"stat": "cstat", "emax": 10, "group": 0, "emin": 0.5}');
SELECT count(*) AS cached_fits FROM xmm.fit_cache WHERE detid = 990001;

-- Reloading the spectrum (unchanged) writes nothing and drops the detection's cached fits.
SELECT xmm.stage_products();
INSERT INTO pg_temp.stage_spectrum (row_no, file, obs_id, kind, instrument, src_num, exposure, backscal, areascal,
                                    channel_first, detchans, counts, total_counts, respfile, ancrfile, sha256,
                                    background_file, rmf_sha256, arf_sha256)
SELECT 1, file, obs_id, kind, instrument, src_num, exposure, backscal, areascal, channel_first, detchans, counts,
       total_counts, respfile, ancrfile, sha256, '', '', 'toy-arf'
  FROM xmm.spectrum WHERE obs_id = '0999999901';
SELECT * FROM xmm.ingest_products();
SELECT count(*) AS cached_fits FROM xmm.fit_cache WHERE detid = 990001;
SAVEPOINT ok;

-- A spectrum whose canned RMF is not in the store is rejected, naming it; so is one without EXPOSURE.
SELECT xmm.stage_products();
INSERT INTO pg_temp.stage_spectrum (row_no, file, obs_id, kind, instrument, exposure, backscal, areascal, channel_first,
                                    counts, total_counts, respfile, sha256, background_file, rmf_sha256, arf_sha256)
VALUES (1, 'other.pha', '0999999901', 'source', 'EPN', 1e3, 1, 1, 0, '{1,2}', 3, 'epn_missing.rmf', 'x', '', '', '');
SELECT * FROM xmm.ingest_products();
ROLLBACK TO SAVEPOINT ok;
SELECT xmm.stage_products();
INSERT INTO pg_temp.stage_spectrum (row_no, file, obs_id, kind, instrument, backscal, areascal, channel_first,
                                    counts, total_counts, respfile, sha256)
VALUES (1, 'noexp.pha', '0999999901', 'source', 'EPN', 1, 1, 0, '{1,2}', 3, 'toy.rmf', 'y');
SELECT * FROM xmm.ingest_products();
ROLLBACK TO SAVEPOINT ok;

-- Bad input: clear errors, nothing cached.
SELECT xmm_fit(-1, 'phabs_pl');
ROLLBACK TO SAVEPOINT ok;
SELECT xmm_fit_detection(990001, 'ACIS', 'phabs_pl');
ROLLBACK TO SAVEPOINT ok;
SELECT xmm_fit_detection(990001, 'PN', 'phabs_pl', '[]');
ROLLBACK TO SAVEPOINT ok;
SELECT xmm_fit_detection(990001, 'PN', 'phabs_pl', '{"refit": "yes"}');
ROLLBACK TO SAVEPOINT ok;
SELECT xmm_fit_detection(990001, 'M2', 'phabs_pl');
ROLLBACK TO SAVEPOINT ok;
SELECT xmm_fit_detection(990001, 'PN', 'phabs*(powerlaw+)');
ROLLBACK TO SAVEPOINT ok;
SELECT xmm_fit_detection(990001, 'PN', 'powerlaw', '{"params": {"PhoIndex": {"value": 99}}}');
ROLLBACK TO SAVEPOINT ok;
SELECT count(*) AS cached_fits FROM xmm.fit_cache WHERE detid = 990001;
ROLLBACK;
