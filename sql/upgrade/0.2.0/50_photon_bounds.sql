-- Photon regions are bounded (radius and position checked when the cells are found).
-- Every photon region is bounded: a cone of at most max_cone_radius() (deg), a
-- whole EPIC field (15' radius) with room around it. An all-sky cone wrote
-- 1.7 GB of temporary files in 20 s. Checked when the cells are found, i.e. at
-- plan time for constant arguments, before any photon is read.
CREATE FUNCTION xmm.max_cone_radius() RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT 1.5::float8 $$;
COMMENT ON FUNCTION xmm.max_cone_radius() IS 'Largest radius (deg) of a photon region query';

CREATE FUNCTION xmm.checked_cone_radius(ra double precision, "dec" double precision, radius_deg double precision)
RETURNS double precision LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT (ra BETWEEN -360 AND 720 AND "dec" BETWEEN -90 AND 90) THEN      -- NaN and infinities fail too
    RAISE EXCEPTION 'photon region: (%, %) is not a position on the sky', ra, "dec"
      USING ERRCODE = 'invalid_parameter_value', HINT = 'ra in degrees, dec in [-90, 90] degrees';
  END IF;
  IF NOT (radius_deg >= 0 AND radius_deg <= xmm.max_cone_radius()) THEN
    RAISE EXCEPTION 'photon region: a radius of % arcsec; it must be from 0 to % arcsec (% deg)',
      radius_deg * 3600, xmm.max_cone_radius() * 3600, xmm.max_cone_radius()
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN radius_deg;
END $$;

CREATE OR REPLACE FUNCTION xmm.cone_cells(ra double precision, "dec" double precision, radius_deg double precision)
RETURNS bigint[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT array_agg(DISTINCT c ORDER BY c)
    FROM (SELECT q3c_radial_query_it(ra, dec, r + 2.8e-6, 2 * i, f) AS lo,
                 q3c_radial_query_it(ra, dec, r + 2.8e-6, 2 * i + 1, f) AS hi
            FROM generate_series(0, 49) AS i, (VALUES (0), (1)) AS full_(f),
                 xmm.checked_cone_radius(ra, dec, radius_deg) AS r) AS ranges,
         generate_series(lo >> 36, (hi - 1) >> 36) AS c
   WHERE hi > lo
$$;
