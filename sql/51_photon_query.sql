-- What users query: one row per photon, from all epochs.
--
-- `photon` unpacks the cell rows. Predicates on obs_id / instrument / exp_id /
-- cell are applied to the packed rows before unpacking (index or pruning), so
-- a region query must name the cells; the idioms (docs/photons.md):
--   SELECT * FROM xmm_photons(149.59, -11.06, 30);                      -- cone, 30"
--   SELECT * FROM photon WHERE cell = ANY (xmm.cone_cells(149.59, -11.06, 30/3600.0))
--                          AND q3c_radial_query(ra, dec, 149.59, -11.06, 30/3600.0);
--   SELECT * FROM photon WHERE obs_id = '0201903501';                   -- one observation
-- A bare q3c_radial_query(ra, dec, ...) on photon is correct but unpacks every
-- photon: name the cells (the ADQL translator does it for CONTAINS on photon).

CREATE VIEW xmm.photon AS
SELECT e.obs_id, e.instrument, e.exp_id,
       c.t0 + (p.th * 2147.483648::float8 + p.tl * 1e-6::float8) AS time,
       xmm.tan_ra(w.xi, w.eta, e.sin_ra_ref, e.cos_ra_ref, e.sin_dec_ref, e.cos_dec_ref) AS ra,
       xmm.tan_dec(w.xi, w.eta, e.sin_dec_ref, e.cos_dec_ref) AS dec,
       p.pi::integer AS pi,
       (p.pc >> 8)::smallint AS pattern,
       p.flag,
       (p.pc & 255)::smallint AS ccdnr,
       c.x0 + p.dx AS x,
       c.y0 + p.dy AS y,
       c.cell
  FROM xmm.photon_cell c
  JOIN xmm.exposure e ON e.exp_key = c.exp_key
 CROSS JOIN LATERAL unnest(c.tl, c.th, c.dx, c.dy, c.pi, c.pc, c.flag) AS p (tl, th, dx, dy, pi, pc, flag)
 CROSS JOIN LATERAL (SELECT radians((c.x0 + p.dx - e.x_ref) * e.x_delt) AS xi,
                            radians((c.y0 + p.dy - e.y_ref) * e.y_delt) AS eta) AS w;

COMMENT ON VIEW xmm.photon IS
  'Every loaded EPIC event: obs_id, instrument, exp_id, time (TT s since MJDREF 50814), ra, dec (deg), '
  'pi (eV), pattern, flag, ccdnr, sky x/y (0.05" pixels), cell. For a region use xmm_photons(ra, dec, r) or '
  'WHERE cell = ANY (xmm.cone_cells(ra, dec, r_deg)) AND q3c_radial_query(ra, dec, ...)';
COMMENT ON COLUMN xmm.photon.time IS 'TT seconds since MJDREF 50814 (1998-01-01), TIMEREF LOCAL';
COMMENT ON COLUMN xmm.photon.pi IS 'PI, eV';
COMMENT ON COLUMN xmm.photon.cell IS 'Q3C cell (q3c_ang2ipix >> 36) holding the photon: the index key';

-- Photons within radius_arcsec of (ra, dec), emin <= PI <= emax (eV), and
-- tmin <= time <= tmax when given; from every exposure loaded. An inlined SQL
-- function: with constant arguments the cell list is a constant, so the plan
-- is partition-pruned index probes (see the EXPLAIN in tests/test_photons_sql.py).
CREATE FUNCTION xmm.xmm_photons(ra double precision, "dec" double precision, radius_arcsec double precision,
                                emin double precision DEFAULT 200, emax double precision DEFAULT 12000,
                                tmin double precision DEFAULT NULL, tmax double precision DEFAULT NULL)
RETURNS SETOF xmm.photon LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT p.*
    FROM xmm.photon p
   WHERE p.cell = ANY (xmm.cone_cells($1, $2, $3 / 3600.0))
     AND p.pi >= $4 AND p.pi <= $5
     AND ($6 IS NULL OR p.time >= $6) AND ($7 IS NULL OR p.time <= $7)
     AND q3c_sindist(p.ra, p.dec, $1, $2) <= sin(radians($3 / 3600.0) / 2) ^ 2
$$;
COMMENT ON FUNCTION xmm.xmm_photons(double precision, double precision, double precision, double precision,
                                    double precision, double precision, double precision) IS
  'Photons of all epochs within radius_arcsec of (ra, dec) deg, PI in [emin, emax] eV, time in [tmin, tmax] (TT s)';
