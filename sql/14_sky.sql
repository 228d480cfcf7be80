-- Small sky-geometry helpers shared by the catalogue and the photon tables.

-- A circle on the sky as a pgSphere polygon with n vertices, e.g. an EPIC
-- field of view. Vertex k lies at bearing 2*pi*k/n and distance radius_deg.
CREATE FUNCTION xmm.circle_polygon(ra_deg double precision, dec_deg double precision,
                                   radius_deg double precision, n integer DEFAULT 24)
RETURNS spoly LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT spoly(spoint(radians(ra_deg) + atan2(sin(b) * sin(r) * cos(radians(dec_deg)),
                                               cos(r) - sin(radians(dec_deg)) * sin(d2)),
                      d2) ORDER BY k)
    FROM (SELECT k, b, r,
                 asin(sin(radians(dec_deg)) * cos(r) + cos(radians(dec_deg)) * sin(r) * cos(b)) AS d2
            FROM (SELECT k, 2 * pi() * k / n AS b, radians(radius_deg) AS r
                    FROM generate_series(0, n - 1) AS k) AS bearings) AS vertices
$$;

COMMENT ON FUNCTION xmm.circle_polygon(double precision, double precision, double precision, integer)
  IS 'Polygon approximating a small circle on the sky (degrees in, spoly out)';

-- EPIC's field of view is a circle of about 15 arcmin radius.
CREATE FUNCTION xmm.epic_footprint(ra_pnt double precision, dec_pnt double precision)
RETURNS spoly LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT xmm.circle_polygon(ra_pnt, dec_pnt, 0.25, 24)
$$;

-- A cone on the sky, checked: (ra, dec) a position and radius_deg from 0 to 180
-- (NaN and infinities fail too), or an error that says so. Returns the radius.
CREATE FUNCTION xmm.checked_sky_cone(ra double precision, "dec" double precision, radius_deg double precision)
RETURNS double precision LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT (ra BETWEEN -360 AND 720 AND "dec" BETWEEN -90 AND 90 AND radius_deg BETWEEN 0 AND 180) THEN
    RAISE EXCEPTION 'a cone of radius % deg at (%, %) is not on the sky', radius_deg, ra, "dec"
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'ra and dec in degrees (dec in [-90, 90]), the radius from 0 to 180 degrees';
  END IF;
  RETURN radius_deg;
END $$;

-- The Q3C index ranges [lo, hi) that cover a cone: q3c's own cover of the circle
-- (q3c_radial_query_it, the ranges q3c_radial_query scans), the empty ones left out.
-- The one home of a cone's ranges: the catalogue's cones (xmm.sources_in_cone) and
-- the photon cells (xmm.cone_cells) read them. Not STRICT, so that PostgreSQL inlines
-- it into their queries (a NULL argument gives no range); a function scan of it
-- would cost a cone ~0.1 ms more.
CREATE FUNCTION xmm.cone_ranges(ra double precision, "dec" double precision, radius_deg double precision)
RETURNS TABLE (lo bigint, hi bigint) LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 50 AS $$
  SELECT lo, hi
    FROM (SELECT q3c_radial_query_it(ra, "dec", r, 2 * i, f) AS lo, q3c_radial_query_it(ra, "dec", r, 2 * i + 1, f) AS hi
            FROM generate_series(0, 49) AS i, (VALUES (0), (1)) AS full_ranges(f),
                 xmm.checked_sky_cone(ra, "dec", radius_deg) AS r) AS ranges
   WHERE lo < hi
$$;
COMMENT ON FUNCTION xmm.cone_ranges(double precision, double precision, double precision) IS
  'Q3C index ranges [lo, hi) of q3c_ang2ipix covering a cone (degrees), as q3c_radial_query scans them';
