-- VO support for the web shim: the Simple Cone Search query (IVOA SCS 1.03)
-- as one SQL function, so /vo/scs is a call and the Q3C index does the work.

-- Sources within sr_deg degrees of (ra_deg, dec_deg), nearest first.
CREATE FUNCTION xmm.vo_cone(ra_deg double precision, dec_deg double precision, sr_deg double precision)
RETURNS SETOF xmm.source
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = xmm, public AS $$
  SELECT s.* FROM xmm.source s
   WHERE q3c_radial_query(s.sc_ra, s.sc_dec, ra_deg, dec_deg, sr_deg)
   ORDER BY q3c_dist(s.sc_ra, s.sc_dec, ra_deg, dec_deg)
$$;

COMMENT ON FUNCTION xmm.vo_cone(double precision, double precision, double precision) IS
  'Simple Cone Search: sources within sr_deg degrees of (ra_deg, dec_deg), nearest first (Q3C index)';
