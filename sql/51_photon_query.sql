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

-- Decoding helper of the view (inlined by the planner); xmm.cone_photons (C,
-- sql/51_photon_cone.sql) does the same arithmetic.
CREATE FUNCTION xmm.photon_time(t0 double precision, th smallint, tl integer) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT t0 + (th * 2147.483648::float8 + tl * 1e-6::float8) $$;

-- The packed rows with their exposure, arrays unnested in lockstep in the select
-- list (ProjectSet: three times cheaper than LATERAL unnest(a, b, …), which
-- materialises). Quals on cell, exp_key, obs_id, instrument, exp_id are pushed
-- below the unnesting.
CREATE VIEW xmm.photon_unpacked AS
SELECT c.cell, c.exp_key, e.obs_id, e.instrument, e.exp_id, c.t0, c.x0, c.y0,
       e.x_ref, e.y_ref, e.x_delt, e.y_delt, e.sin_ra_ref, e.cos_ra_ref, e.sin_dec_ref, e.cos_dec_ref,
       unnest(c.tl) AS tl, unnest(c.th) AS th, unnest(c.dx) AS dx, unnest(c.dy) AS dy,
       unnest(c.pi) AS pi, unnest(c.pc) AS pc, unnest(c.flag) AS flag
  FROM xmm.photon_cell c
  JOIN xmm.exposure e ON e.exp_key = c.exp_key;

CREATE VIEW xmm.photon AS
SELECT u.obs_id, u.instrument, u.exp_id,
       xmm.photon_time(u.t0, u.th, u.tl) AS time,
       xmm.tan_ra(w.xi, w.eta, u.sin_ra_ref, u.cos_ra_ref, u.sin_dec_ref, u.cos_dec_ref) AS ra,
       xmm.tan_dec(w.xi, w.eta, u.sin_dec_ref, u.cos_dec_ref) AS dec,
       u.pi::integer AS pi,
       (u.pc >> 8)::smallint AS pattern,
       u.flag,
       (u.pc & 255)::smallint AS ccdnr,
       u.x0 + u.dx AS x,
       u.y0 + u.dy AS y,
       u.cell
  FROM xmm.photon_unpacked u
 CROSS JOIN LATERAL (SELECT radians((u.x0 + u.dx - u.x_ref) * u.x_delt) AS xi,
                            radians((u.y0 + u.dy - u.y_ref) * u.y_delt) AS eta) AS w;

COMMENT ON VIEW xmm.photon IS
  'Every loaded EPIC event: obs_id, instrument, exp_id, time (TT s since MJDREF 50814), ra, dec (deg), '
  'pi (eV), pattern, flag, ccdnr, sky x/y (0.05" pixels), cell. For a region use xmm_photons(ra, dec, r) or '
  'WHERE cell = ANY (xmm.cone_cells(ra, dec, r_deg)) AND q3c_radial_query(ra, dec, ...)';
COMMENT ON COLUMN xmm.photon.time IS 'TT seconds since MJDREF 50814 (1998-01-01), TIMEREF LOCAL';
COMMENT ON COLUMN xmm.photon.pi IS 'PI, eV';
COMMENT ON COLUMN xmm.photon.cell IS 'Q3C cell (q3c_ang2ipix >> 36) holding the photon: the index key';

