-- The catalogue layer at SQL level: footprints, staging, validation, idempotent upsert.
SET search_path = xmm, public;
\set SHOW_CONTEXT never

-- A 24-vertex EPIC footprint contains its pointing and not a point 20' away.
SELECT npoints(xmm.epic_footprint(10.68, 41.27)) AS vertices,
       xmm.epic_footprint(10.68, 41.27) @> spoint(radians(10.68), radians(41.27)) AS contains_pointing,
       xmm.epic_footprint(10.68, 41.27) @> spoint(radians(10.68), radians(41.27 + 20.0/60)) AS contains_20arcmin;
-- Its area is close to pi (0.25 deg)^2.
SELECT round((area(xmm.epic_footprint(0, 0)) * (180 / pi())^2)::numeric, 3) AS area_deg2,
       round((pi() * 0.25^2)::numeric, 3) AS circle_deg2;

-- Stage an observation list by hand, as the loader does with COPY.
BEGIN;
SELECT xmm.stage('observation_list');
INSERT INTO pg_temp.stage_observation_list (row_no, obs_id, target, ra_pnt, dec_pnt, mjd_start, mjd_stop)
VALUES (1, '0123456789', 'TEST FIELD', 150.0, 2.0, 55000.0, 55000.5),
       (2, '0123456790', 'TEST FIELD', 150.1, 2.1, 55100.0, 55100.4);
SELECT * FROM xmm.ingest_observation_list('by-hand.fits',
  ARRAY['obs_id', 'target', 'ra_pnt', 'dec_pnt', 'mjd_start', 'mjd_stop']);
COMMIT;

-- The same rows again change nothing.
BEGIN;
SELECT xmm.stage('observation_list');
INSERT INTO pg_temp.stage_observation_list (row_no, obs_id, target, ra_pnt, dec_pnt, mjd_start, mjd_stop)
VALUES (1, '0123456789', 'TEST FIELD', 150.0, 2.0, 55000.0, 55000.5);
SELECT * FROM xmm.ingest_observation_list('by-hand.fits',
  ARRAY['obs_id', 'target', 'ra_pnt', 'dec_pnt', 'mjd_start', 'mjd_stop']);
COMMIT;

-- Bad rows are rejected naming the file, column and row; nothing is written.
BEGIN;
SELECT xmm.stage('observation_list');
INSERT INTO pg_temp.stage_observation_list (row_no, obs_id, ra_pnt, dec_pnt, mjd_start, mjd_stop)
VALUES (1, '0123456791', 150.0, 2.0, 55000.0, 55000.5),
       (2, '0123456792', 'NaN', 2.0, 55000.0, 55000.5);
SELECT * FROM xmm.ingest_observation_list('bad.fits', ARRAY['obs_id', 'ra_pnt', 'dec_pnt', 'mjd_start', 'mjd_stop']);
ROLLBACK;

BEGIN;
SELECT xmm.stage('observation_list');
INSERT INTO pg_temp.stage_observation_list (row_no, obs_id, ra_pnt, dec_pnt, mjd_start, mjd_stop)
VALUES (1, '0123456791', 150.0, 2.0, 55000.0, 55000.5),
       (2, '0123456791', 150.0, 2.0, 55000.0, 55000.5);
SELECT * FROM xmm.ingest_observation_list('dup.fits', ARRAY['obs_id', 'ra_pnt', 'dec_pnt', 'mjd_start', 'mjd_stop']);
ROLLBACK;

BEGIN;
SELECT xmm.stage('observation_list');
SELECT * FROM xmm.ingest_observation_list('nopointing.fits', ARRAY['obs_id', 'mjd_start', 'mjd_stop']);
ROLLBACK;

SELECT obs_id, target, round(ra_pnt::numeric, 2) AS ra_pnt, footprint IS NOT NULL AS has_footprint
  FROM xmm.observation ORDER BY obs_id;
