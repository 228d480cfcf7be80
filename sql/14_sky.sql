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
