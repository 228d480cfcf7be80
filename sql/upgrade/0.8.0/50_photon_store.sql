-- The photon cells read the cone's ranges from xmm.cone_ranges (sql/14_sky.sql).
CREATE OR REPLACE FUNCTION xmm.cone_cells(ra double precision, "dec" double precision, radius_deg double precision)
RETURNS bigint[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT array_agg(DISTINCT c ORDER BY c)
    FROM xmm.cone_ranges(ra, dec, xmm.checked_cone_radius(ra, dec, radius_deg) + 2.8e-6) AS ranges,
         generate_series(lo >> 36, (hi - 1) >> 36) AS c
$$;
