-- Which exposures saw a sky position, on which CCD, and for how long.
--
-- An EPIC camera is a mosaic of CCDs (pn 12, MOS 7), each with its own good
-- time intervals: their on-times differ, and the exposure of a source is that
-- of the CCD it lies on (the event file's ONTIME keyword is CCD 1's). The CCD
-- at a position is read from the events themselves: the CCD of the event (of
-- any energy, flag or pattern) nearest to it. Each event's sky position comes
-- from its own CCD's pixels, so near a CCD's edge the nearest event is on the
-- CCD the position lies on (or, in a gap, on one beside it). A position with
-- no event within 60" (off the field of view) is not covered.

-- Length (s) of the union of the good time intervals of one CCD of an
-- exposure (ccdnr 0: the whole exposure), overlapping intervals counted once.
-- A CCD without intervals of its own takes the exposure's (ccdnr 0).
CREATE FUNCTION xmm.ccd_ontime(obs_id text, instrument text, exp_id text, ccdnr smallint)
RETURNS double precision LANGUAGE sql STABLE PARALLEL SAFE AS $$
  WITH own AS (
    SELECT g.start, g.stop FROM xmm.gti g
     WHERE g.obs_id = $1 AND g.instrument = $2 AND g.exp_id = $3
       AND g.ccdnr = CASE WHEN EXISTS (SELECT FROM xmm.gti h WHERE h.obs_id = $1 AND h.instrument = $2
                                                              AND h.exp_id = $3 AND h.ccdnr = $4)
                          THEN $4 ELSE 0 END),
  runs AS (  -- an interval starts a new run when it begins after every earlier one has ended
    SELECT start, stop,
           count(*) FILTER (WHERE NOT coalesce(start <= ended, false)) OVER (ORDER BY start, stop) AS run
      FROM (SELECT start, stop, max(stop) OVER (ORDER BY start, stop ROWS BETWEEN UNBOUNDED PRECEDING
                                                                     AND 1 PRECEDING) AS ended FROM own) o)
  SELECT coalesce(sum(stop - start), 0) FROM (SELECT min(start) AS start, max(stop) AS stop FROM runs GROUP BY run) r
$$;
COMMENT ON FUNCTION xmm.ccd_ontime(text, text, text, smallint) IS
  'On-time (s) of one CCD of an exposure: the length of the union of its good time intervals';

CREATE FUNCTION xmm.xmm_coverage(ra double precision, "dec" double precision)
RETURNS TABLE (obs_id text, instrument text, exp_id text, ccdnr smallint, ontime double precision)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  WITH per_ccd AS (  -- hashed, not sorted: a bright source puts 1e4 events within 60"
    SELECT p.obs_id, p.instrument, p.exp_id, p.ccdnr, min(q3c_dist($1, $2, p.ra, p.dec)) AS nearest
      FROM xmm.xmm_photons($1, $2, 60, 0, 32767, NULL, NULL, '{"all_events": true}') p
     GROUP BY p.obs_id, p.instrument, p.exp_id, p.ccdnr)
  SELECT DISTINCT ON (c.obs_id, c.instrument, c.exp_id) c.obs_id, c.instrument, c.exp_id, c.ccdnr,
         xmm.ccd_ontime(c.obs_id, c.instrument, c.exp_id, c.ccdnr)
    FROM per_ccd c ORDER BY c.obs_id, c.instrument, c.exp_id, c.nearest, c.ccdnr
$$;
COMMENT ON FUNCTION xmm.xmm_coverage(double precision, double precision) IS
  'The loaded exposures that saw (ra, dec) deg: the CCD there (of the nearest event within 60") and its on-time (s)';
