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

-- Decoding helpers shared by the view and xmm_photons (inlined by the planner).
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

-- A cone seen from one packed row of an exposure, computed once per packed row
-- (not inlined on purpose), so that the per-photon work is integer compares:
--   a, b, c  the direction of (ra, dec) in the exposure's tangent-plane frame
--            (east, north, reference point): a photon at tangent-plane (xi, eta)
--            is within r iff a xi + b eta + c >= cos(r) sqrt(1 + xi^2 + eta^2);
--   dx_lo .. dy_hi  a box of the row's dx/dy pixel offsets holding the cone's
--            image. The gnomonic scale at angle t from the reference point is at
--            most sec^2 t, so the image lies within r sec^2(rho + r) of the
--            projected centre (rho: the centre's angle). Past 80 deg, no box.
CREATE FUNCTION xmm.cone_frame(ra double precision, "dec" double precision, radius_deg double precision,
                               sin_ra_ref double precision, cos_ra_ref double precision,
                               sin_dec_ref double precision, cos_dec_ref double precision,
                               x_ref double precision, y_ref double precision,
                               x_delt double precision, y_delt double precision, x0 integer, y0 integer,
                               OUT a double precision, OUT b double precision, OUT c double precision,
                               OUT dx_lo integer, OUT dx_hi integer, OUT dy_lo integer, OUT dy_hi integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
  SELECT a, b, c,  -- box edges clamped to the int2 range of dx/dy; one pixel of margin for rounding
         greatest(floor(xc - hw / abs(x_delt)) - x0 - 1, -32768)::integer,
         least(ceil(xc + hw / abs(x_delt)) - x0 + 1, 32767)::integer,
         greatest(floor(yc - hw / abs(y_delt)) - y0 - 1, -32768)::integer,
         least(ceil(yc + hw / abs(y_delt)) - y0 + 1, 32767)::integer
    FROM (SELECT a, b, c,
                 CASE WHEN boxed THEN x_ref + degrees(a / c) / x_delt ELSE 0 END AS xc,
                 CASE WHEN boxed THEN y_ref + degrees(b / c) / y_delt ELSE 0 END AS yc,
                 CASE WHEN boxed THEN radius_deg / cos(acos(least(c, 1.0)) + radians(radius_deg)) ^ 2
                      ELSE 'Infinity' END AS hw
            FROM (SELECT a, b, c, c > 0 AND acos(least(c, 1.0)) + radians(radius_deg) < radians(80.0) AS boxed
                    FROM (SELECT cos(radians(dec)) * (sin(radians(ra)) * cos_ra_ref - cos(radians(ra)) * sin_ra_ref) AS a,
                                 cos_dec_ref * sin(radians(dec))
                                   - sin_dec_ref * cos(radians(dec)) * (cos(radians(ra)) * cos_ra_ref
                                                                       + sin(radians(ra)) * sin_ra_ref) AS b,
                                 sin_dec_ref * sin(radians(dec))
                                   + cos_dec_ref * cos(radians(dec)) * (cos(radians(ra)) * cos_ra_ref
                                                                       + sin(radians(ra)) * sin_ra_ref) AS c) AS d
                 ) AS frame
         ) AS box
$$;

-- Photons within radius_arcsec of (ra, dec), emin <= PI <= emax (eV), and
-- tmin <= time <= tmax when given; from every exposure loaded. An inlined SQL
-- function: with constant arguments the cell list is a constant, so the plan
-- is partition-pruned index probes (see the EXPLAIN in tests/test_photons_sql.py);
-- the cone test runs in each exposure's tangent plane, RA/Dec are computed for
-- the photons returned only.
CREATE FUNCTION xmm.xmm_photons(ra double precision, "dec" double precision, radius_arcsec double precision,
                                emin double precision DEFAULT 200, emax double precision DEFAULT 12000,
                                tmin double precision DEFAULT NULL, tmax double precision DEFAULT NULL)
RETURNS SETOF xmm.photon LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT u.obs_id, u.instrument, u.exp_id, xmm.photon_time(u.t0, u.th, u.tl),
         xmm.tan_ra(w.xi, w.eta, u.sin_ra_ref, u.cos_ra_ref, u.sin_dec_ref, u.cos_dec_ref),
         xmm.tan_dec(w.xi, w.eta, u.sin_dec_ref, u.cos_dec_ref),
         u.pi::integer, (u.pc >> 8)::smallint, u.flag, (u.pc & 255)::smallint, u.x0 + u.dx, u.y0 + u.dy, u.cell
    FROM (SELECT c.cell, e.obs_id, e.instrument, e.exp_id, c.t0, c.x0, c.y0, e.x_ref, e.y_ref, e.x_delt, e.y_delt,
                 e.sin_ra_ref, e.cos_ra_ref, e.sin_dec_ref, e.cos_dec_ref, f.a, f.b, f.c,
                 f.dx_lo, f.dx_hi, f.dy_lo, f.dy_hi,
                 unnest(c.tl) AS tl, unnest(c.th) AS th, unnest(c.dx) AS dx, unnest(c.dy) AS dy,
                 unnest(c.pi) AS pi, unnest(c.pc) AS pc, unnest(c.flag) AS flag
            FROM xmm.photon_cell c
            JOIN xmm.exposure e ON e.exp_key = c.exp_key
           CROSS JOIN LATERAL xmm.cone_frame($1, $2, $3 / 3600.0, e.sin_ra_ref, e.cos_ra_ref, e.sin_dec_ref,
                                             e.cos_dec_ref, e.x_ref, e.y_ref, e.x_delt, e.y_delt, c.x0, c.y0) f
           WHERE c.cell = ANY (xmm.cone_cells($1, $2, $3 / 3600.0))) AS u
   CROSS JOIN LATERAL (SELECT radians((u.x0 + u.dx - u.x_ref) * u.x_delt) AS xi,
                              radians((u.y0 + u.dy - u.y_ref) * u.y_delt) AS eta) AS w
   WHERE u.dx BETWEEN u.dx_lo AND u.dx_hi AND u.dy BETWEEN u.dy_lo AND u.dy_hi
     AND u.pi >= $4 AND u.pi <= $5
     AND u.a * w.xi + u.b * w.eta + u.c >= cos(radians($3 / 3600.0)) * sqrt(1 + w.xi * w.xi + w.eta * w.eta)
     AND ($6 IS NULL OR xmm.photon_time(u.t0, u.th, u.tl) >= $6)
     AND ($7 IS NULL OR xmm.photon_time(u.t0, u.th, u.tl) <= $7)
$$;
COMMENT ON FUNCTION xmm.xmm_photons(double precision, double precision, double precision, double precision,
                                    double precision, double precision, double precision) IS
  'Photons of all epochs within radius_arcsec of (ra, dec) deg, PI in [emin, emax] eV, time in [tmin, tmax] (TT s)';
