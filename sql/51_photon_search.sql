-- xmm_photons: the photons of a cone, the way every photon function reads them;
-- xmm_photon_arrays: the same photons as arrays, for bulk delivery.

-- Photons within radius_arcsec of (ra, dec), emin <= PI <= emax (eV), and
-- tmin <= time <= tmax when given; from every exposure loaded, with each
-- camera's standard event selection unless options say otherwise
-- (sql/51_event_selection.sql). An inlined SQL function: with constant
-- arguments the cell list, the selection and the flare mode are constants, so
-- the plan is partition-pruned index probes (see the EXPLAIN in
-- tests/test_photons_sql.py), then one cone_photons call per packed row, which
-- applies the selection; the exposure's flare series is read only when a flare
-- filter is asked for.
CREATE FUNCTION xmm.xmm_photons(ra double precision, "dec" double precision, radius_arcsec double precision,
                                emin double precision DEFAULT 200, emax double precision DEFAULT 12000,
                                tmin double precision DEFAULT NULL, tmax double precision DEFAULT NULL,
                                options jsonb DEFAULT '{}')
RETURNS SETOF xmm.photon LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT e.obs_id, e.instrument, e.exp_id, p.time, p.ra, p.dec, p.pi, p.pattern, p.flag, p.ccdnr, p.x, p.y, c.cell
    FROM xmm.photon_cell c
    JOIN xmm.exposure e ON e.exp_key = c.exp_key
   CROSS JOIN LATERAL xmm.cone_photons(c, e, $1, $2, $3 / 3600.0, $4, $5, $6, $7,
                                       xmm.event_rule($8), xmm.flare_mode($8), xmm.flare_threshold($8),
                                       CASE WHEN xmm.flare_mode($8) <> 'off' THEN
                                         (SELECT f FROM xmm.flare_series f WHERE f.obs_id = e.obs_id
                                             AND f.instrument = e.instrument AND f.exp_id = e.exp_id) END) p
   WHERE c.cell = ANY (xmm.cone_cells($1, $2, $3 / 3600.0))
$$;
COMMENT ON FUNCTION xmm.xmm_photons(double precision, double precision, double precision, double precision,
                                    double precision, double precision, double precision, jsonb) IS
  'Photons of all epochs within radius_arcsec of (ra, dec) deg, PI in [emin, emax] eV, time in [tmin, tmax] (TT s), '
  'standard event selection unless options say otherwise (pattern, flag, all_events, flare_filter)';

-- The photons of xmm_photons as one row per exposure and packed cell, each
-- column an array in time order: what a client that wants many photons fetches
-- (a few rows per exposure, not a row per photon; with binary transfer the
-- arrays arrive as they are stored in memory). Arguments as xmm_photons.
CREATE FUNCTION xmm.xmm_photon_arrays(ra double precision, "dec" double precision, radius_arcsec double precision,
                                      emin double precision DEFAULT 200, emax double precision DEFAULT 12000,
                                      tmin double precision DEFAULT NULL, tmax double precision DEFAULT NULL,
                                      options jsonb DEFAULT '{}')
RETURNS TABLE (obs_id text, instrument text, exp_id text, cell bigint, n integer,
               "time" double precision[], ra double precision[], "dec" double precision[], pi integer[],
               pattern smallint[], flag integer[], ccdnr smallint[], x integer[], y integer[])
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT e.obs_id, e.instrument, e.exp_id, c.cell, p.n, p.time, p.ra, p.dec, p.pi, p.pattern, p.flag, p.ccdnr,
         p.x, p.y
    FROM xmm.photon_cell c
    JOIN xmm.exposure e ON e.exp_key = c.exp_key
   CROSS JOIN LATERAL xmm.cone_photon_arrays(c, e, $1, $2, $3 / 3600.0, $4, $5, $6, $7,
                                             xmm.event_rule($8), xmm.flare_mode($8), xmm.flare_threshold($8),
                                             CASE WHEN xmm.flare_mode($8) <> 'off' THEN
                                               (SELECT f FROM xmm.flare_series f WHERE f.obs_id = e.obs_id
                                                   AND f.instrument = e.instrument AND f.exp_id = e.exp_id) END) p
   WHERE c.cell = ANY (xmm.cone_cells($1, $2, $3 / 3600.0))
$$;
COMMENT ON FUNCTION xmm.xmm_photon_arrays(double precision, double precision, double precision, double precision,
                                          double precision, double precision, double precision, jsonb) IS
  'The photons of xmm_photons(...) as one row per exposure and packed cell, each column an array in time order';
