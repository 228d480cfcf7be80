-- xmmpub: the archive as SQL clients (TOPCAT over JDBC, any ODBC/JDBC tool)
-- see it. Only plain types: positions as float8 degrees, times as MJD float8
-- (TT) next to the mission's own seconds, no arrays, no jsonb, no pgSphere
-- types; the internal tables of xmm (packed photons, response matrices,
-- caches) are not listed here.

CREATE SCHEMA xmmpub;
COMMENT ON SCHEMA xmmpub IS 'xmmdb for SQL clients (TOPCAT/JDBC): plain-typed views of the archive';

CREATE VIEW xmmpub.source AS SELECT * FROM xmm.source;
CREATE VIEW xmmpub.detection AS SELECT * FROM xmm.detection;
CREATE VIEW xmmpub.observation AS SELECT * FROM xmm.observation_list;
CREATE VIEW xmmpub.catalogue AS SELECT * FROM xmm.catalogue;

CREATE VIEW xmmpub.spectrum AS
SELECT spectrum_id, detid, obs_id, instrument, exp_id, src_num, kind, ra, dec,
       exposure, backscal, areascal, detchans, total_counts, file, respfile, ancrfile, backfile
  FROM xmm.spectrum;

CREATE VIEW xmmpub.exposure AS
SELECT obs_id, instrument, exp_id, filter, datamode, submode, tstart, tstop,
       50814.0 + tstart / 86400.0 AS mjd_start, 50814.0 + tstop / 86400.0 AS mjd_stop, ontime
  FROM xmm.exposure;

CREATE VIEW xmmpub.gti AS
SELECT obs_id, instrument, exp_id, ccdnr, start, stop,
       50814.0 + start / 86400.0 AS mjd_start, 50814.0 + stop / 86400.0 AS mjd_stop
  FROM xmm.gti;

-- Photons: select a region with the cell idiom of xmm.photon (docs/photons.md),
-- or better call xmm_photons(ra, dec, radius_arcsec) which returns the same rows.
CREATE VIEW xmmpub.photon AS
SELECT obs_id, instrument, exp_id, time, 50814.0 + time / 86400.0 AS mjd, ra, dec, pi, pattern, flag, ccdnr, x, y, cell
  FROM xmm.photon;
