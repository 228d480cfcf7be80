-- xmm_photons: the photons of a cone, the way every photon function reads them.

-- Photons within radius_arcsec of (ra, dec), emin <= PI <= emax (eV), and
-- tmin <= time <= tmax when given; from every exposure loaded, with each
-- camera's standard event selection unless options say otherwise
-- (sql/51_event_selection.sql). An inlined SQL function: with constant
-- arguments the cell list and the selection are constants, so the plan is
-- partition-pruned index probes (see the EXPLAIN in tests/test_photons_sql.py),
-- then one cone_photons call per packed row.
CREATE FUNCTION xmm.xmm_photons(ra double precision, "dec" double precision, radius_arcsec double precision,
                                emin double precision DEFAULT 200, emax double precision DEFAULT 12000,
                                tmin double precision DEFAULT NULL, tmax double precision DEFAULT NULL,
                                options jsonb DEFAULT '{}')
RETURNS SETOF xmm.photon LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT e.obs_id, e.instrument, e.exp_id, p.time, p.ra, p.dec, p.pi, p.pattern, p.flag, p.ccdnr, p.x, p.y, c.cell
    FROM xmm.photon_cell c
    JOIN xmm.exposure e ON e.exp_key = c.exp_key
    LEFT JOIN xmm.flare_series f ON xmm.flare_mode($8) <> 'off' AND f.obs_id = e.obs_id
                                AND f.instrument = e.instrument AND f.exp_id = e.exp_id
   CROSS JOIN LATERAL xmm.cone_photons(c.t0, c.x0, c.y0, c.tl, c.th, c.dx, c.dy, c.pi, c.pc, c.flag,
                                       e.x_ref, e.y_ref, e.x_delt, e.y_delt,
                                       e.sin_ra_ref, e.cos_ra_ref, e.sin_dec_ref, e.cos_dec_ref,
                                       $1, $2, $3 / 3600.0, $4, $5, $6, $7) p
   WHERE c.cell = ANY (xmm.cone_cells($1, $2, $3 / 3600.0))
     AND xmm.event_selected(e.instrument, p.pattern, p.flag, xmm.event_rule($8))
     AND (xmm.flare_mode($8) = 'off'
          OR f.obs_id IS NOT NULL AND xmm.flare_free(f.gti_start, f.gti_stop, f.time, f.rate, f.timedel, p.time,
                                                     xmm.flare_threshold($8)))
$$;
COMMENT ON FUNCTION xmm.xmm_photons(double precision, double precision, double precision, double precision,
                                    double precision, double precision, double precision, jsonb) IS
  'Photons of all epochs within radius_arcsec of (ra, dec) deg, PI in [emin, emax] eV, time in [tmin, tmax] (TT s), '
  'standard event selection unless options say otherwise (pattern, flag, all_events, flare_filter)';
