-- VO support for the web shim: the Simple Cone Search query (IVOA SCS 1.03)
-- as one SQL function, so /vo/scs is a call and the Q3C index does the work.

-- Sources within sr_deg degrees of (ra_deg, dec_deg), nearest first; the service's bounds
-- (a cone of at most 10 degrees) are held here, whoever calls.
CREATE FUNCTION xmm.vo_cone(ra_deg double precision, dec_deg double precision, sr_deg double precision)
RETURNS SETOF xmm.source
LANGUAGE plpgsql STABLE SET search_path = xmm, public, pg_temp AS $$
BEGIN
  IF NOT (ra_deg BETWEEN 0 AND 360 AND dec_deg BETWEEN -90 AND 90 AND sr_deg BETWEEN 0 AND 10) THEN
    RAISE EXCEPTION 'RA must be in [0, 360], DEC in [-90, 90] and SR in [0, 10] degrees (given %, %, %)',
                    ra_deg, dec_deg, sr_deg USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- the cone of the query language (xmm.sources_in_cone: a plan the session keeps)
  RETURN QUERY SELECT s.* FROM xmm.sources_in_cone(ra_deg, dec_deg, sr_deg) s
                ORDER BY q3c_dist(s.sc_ra, s.sc_dec, ra_deg, dec_deg);
END $$;

COMMENT ON FUNCTION xmm.vo_cone(double precision, double precision, double precision) IS
  'Simple Cone Search: sources within sr_deg degrees of (ra_deg, dec_deg), nearest first (Q3C index)';
