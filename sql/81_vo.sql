-- VO support for the web shim: the Simple Cone Search query (IVOA SCS 1.03)
-- as one SQL function, so /vo/scs is a call and the Q3C index does the work.

-- Sources within sr_deg degrees of (ra_deg, dec_deg), nearest first.
CREATE FUNCTION xmm.vo_cone(ra_deg double precision, dec_deg double precision, sr_deg double precision)
RETURNS SETOF xmm.source
-- The cone of the query language (xmm.sources_in_cone: a plan the session keeps).
LANGUAGE sql STABLE SET search_path = xmm, public, pg_temp AS $$
  SELECT s.* FROM xmm.sources_in_cone(ra_deg, dec_deg, sr_deg) s
   ORDER BY q3c_dist(s.sc_ra, s.sc_dec, ra_deg, dec_deg)
$$;

COMMENT ON FUNCTION xmm.vo_cone(double precision, double precision, double precision) IS
  'Simple Cone Search: sources within sr_deg degrees of (ra_deg, dec_deg), nearest first (Q3C index)';
