-- The search language and the name resolver from psql (docs/search.md), on a
-- handful of sources typed in here (the regression database has no sample sky).
-- Everything happens in one transaction that is rolled back.
SET search_path = xmm, public;
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
BEGIN;
INSERT INTO observation (obs_id, target, ra_pnt, dec_pnt, mjd_start, mjd_stop) VALUES
  ('0112290201', 'M82', 148.9685, 69.6797, 52000.0, 52000.5),
  ('0112570101', 'M31', 10.6847, 41.2690, 51800.0, 51800.5),
  ('0201903501', 'Abell 907', 149.5917, -11.0636, 53500.0, 53500.4);
INSERT INTO source (srcid, iauname, sc_ra, sc_dec, sc_det_ml, sc_ep_8_flux, n_detections, is_ulx, comments) VALUES
  (1, '4XMM J095552.8+694044', 148.9700, 69.6790, 2500, 2.5e-11, 3, true, 'ULX in M82'),
  (2, '4XMM J095550.3+694052', 148.9596, 69.6811, 80, 3e-13, 2, false, 'M82 galaxy source'),
  (3, '4XMM J095700.0+694500', 149.2500, 69.7500, 12, 4e-14, 1, false, NULL),
  (4, '4XMM J004250.0+411804', 10.7083, 41.3011, 900, 8e-12, 1, true, 'ULX in M31'),
  (5, '4XMM J004244.3+411609', 10.6846, 41.2692, 300, 1e-12, 1, false, 'M31 galaxy source'),
  (6, '4XMM J095818.2-110330', 149.5758, -11.0583, 40, 1.5e-11, 1, false, 'extended emission, Abell 907');
INSERT INTO detection (detid, srcid, obs_id, src_num, ra, dec, ep_8_det_ml, spectra) VALUES
  (11, 1, '0112290201', 1, 148.9700, 69.6790, 2500, true),
  (12, 2, '0112290201', 2, 148.9596, 69.6811, 80, false),
  (13, 3, '0112290201', 3, 149.2500, 69.7500, 12, false),
  (14, 4, '0112570101', 1, 10.7083, 41.3011, 900, true),
  (15, 5, '0112570101', 2, 10.6846, 41.2692, 300, NULL),
  (16, 6, '0201903501', 1, 149.5758, -11.0583, 40, true);

-- Names resolve offline, whatever their spelling.
SELECT * FROM xmm_resolve('M 31');
SELECT name, origin FROM xmm_resolve('ngc0224');
SELECT name, round(ra::numeric, 4) AS ra, round(dec::numeric, 4) AS dec, origin FROM xmm_resolve('Abell 907');
SELECT * FROM xmm_resolve('4XMM J095552.8+694044');
SELECT round(ra::numeric, 6) AS ra, round(dec::numeric, 6) AS dec, origin FROM xmm_resolve('00h42m44.3s +41d16m09s');
SELECT count(*) AS unknown FROM xmm_resolve('M 999');

-- A bare name or position: a 10' cone.
SELECT srcid, iauname FROM xmm_search('M82') ORDER BY srcid;
SELECT srcid FROM xmm_search('148.9685 69.6797') ORDER BY srcid;
SELECT srcid FROM xmm_search('Abell 907') ORDER BY srcid;
-- cone(position, radius) with units.
SELECT srcid FROM xmm_search('cone(''M82'', ''1arcmin'')') ORDER BY srcid;
SELECT srcid FROM xmm_search('cone(''M31'', ''1deg'') AND sc_det_ml < 1000') ORDER BY srcid;
SELECT srcid FROM xmm_search('cone(''00h42m44.3s +41d16m09s'', ''30arcsec'')') ORDER BY srcid;
SELECT srcid FROM xmm_search('cone("10.68 41.27", "3''")') ORDER BY srcid;
-- Comparisons, booleans, sets, substrings, word sets, NULL.
SELECT srcid FROM xmm_search('is_ulx = true AND n_detections > 2') ORDER BY srcid;
SELECT srcid FROM xmm_search('1e-12 <= sc_ep_8_flux') ORDER BY srcid;
SELECT srcid FROM xmm_search('srcid IN {3, 4}') ORDER BY srcid;
SELECT srcid FROM xmm_search('iauname IN {"4XMM J095552.8+694044", ''4XMM J095818.2-110330''}') ORDER BY srcid;
SELECT srcid FROM xmm_search('"J0958" IN iauname') ORDER BY srcid;
SELECT srcid FROM xmm_search('{"M82", "ULX"} IN comments') ORDER BY srcid;
SELECT srcid FROM xmm_search('comments IS NULL OR NOT (is_ulx OR sc_det_ml > 100)') ORDER BY srcid;
SELECT srcid FROM xmm_search('pipeline_spectrum AND NOT M82') ORDER BY srcid;
SELECT count(*) FROM xmm_search('has_spectrum AND NOT pipeline_spectrum');
SELECT detid FROM xmm_search_detections('M31 AND (has_spectrum OR comments IS NOT NULL)') ORDER BY detid;
-- The SQL a query becomes.
SELECT xmm_to_sql('cone(''M31'', ''1deg'') AND sc_det_ml < 100');
SELECT xmm_to_sql('"J0958" IN iauname OR srcid IN {3, 4}', 'detection');
-- Errors for humans, with a hint.
SELECT * FROM xmm_search('M82 AND sc_hr2 >');
SELECT * FROM xmm_search('sc_det_mll > 100');
SELECT * FROM xmm_search('M 999');
SELECT * FROM xmm_search('sc_det_ml > ''bright''');
SELECT count(*) AS injected FROM xmm_search('iauname = "x''); DROP TABLE xmm.source; --"');
SELECT count(*) AS sources_still_there FROM source;
ROLLBACK;
