-- The search language (docs/search.md) and the name resolver: thin bodies
-- over xmmdb.search. The SQL a query becomes reads only whitelisted columns,
-- quotes every literal and uses the Q3C index for cones.

-- The SELECT a query becomes: xmm_to_sql('M82 AND is_ulx').
-- target: 'source' (as xmm_search) or 'detection' (as xmm_search_detections).
-- python front: xmmdb.search.to_sql(db, q, target)
CREATE FUNCTION xmm.xmm_to_sql(q text, target text DEFAULT 'source')
RETURNS text VOLATILE;
COMMENT ON FUNCTION xmm.xmm_to_sql(text, text) IS
  'The SQL a search-language query becomes (see docs/search.md), e.g. xmm_to_sql(''M82 AND is_ulx'')';

-- The sources (detections) within radius_deg of a point: each Q3C index range of the
-- circle (xmm.cone_ranges) an index range scan, then the exact distance, in a statement
-- whose plan PL/pgSQL keeps for the session: the query language's cones (xmm_to_sql)
-- cost ~0.7 ms on a million sources, where q3c_radial_query's hundred OR-ed ranges
-- are planned again each time (~5 ms). A cone off the sky is an error.
CREATE FUNCTION xmm.sources_in_cone(cone_ra double precision, cone_dec double precision,
                                    radius_deg double precision)
RETURNS SETOF xmm.source
LANGUAGE plpgsql STABLE STRICT SET search_path = xmm, public, pg_temp AS $$
BEGIN
  RETURN QUERY
  SELECT s.* FROM xmm.cone_ranges(cone_ra, cone_dec, radius_deg) AS r
   CROSS JOIN LATERAL (SELECT * FROM xmm.source t      -- OFFSET 0: one index scan a range
                        WHERE q3c_ang2ipix(t.sc_ra, t.sc_dec) >= r.lo AND q3c_ang2ipix(t.sc_ra, t.sc_dec) < r.hi
                       OFFSET 0) AS s
   WHERE q3c_sindist(s.sc_ra, s.sc_dec, cone_ra, cone_dec) < pow(sin(radians(radius_deg) / 2), 2);
END $$;
COMMENT ON FUNCTION xmm.sources_in_cone(double precision, double precision, double precision) IS
  'Sources within radius_deg of (cone_ra, cone_dec), in degrees: '
  'the rows of q3c_radial_query(sc_ra, sc_dec, cone_ra, cone_dec, radius_deg)';

CREATE FUNCTION xmm.detections_in_cone(cone_ra double precision, cone_dec double precision,
                                       radius_deg double precision)
RETURNS SETOF xmm.detection
LANGUAGE plpgsql STABLE STRICT SET search_path = xmm, public, pg_temp AS $$
BEGIN
  RETURN QUERY
  SELECT d.* FROM xmm.cone_ranges(cone_ra, cone_dec, radius_deg) AS r
   CROSS JOIN LATERAL (SELECT * FROM xmm.detection t
                        WHERE q3c_ang2ipix(t.ra, t.dec) >= r.lo AND q3c_ang2ipix(t.ra, t.dec) < r.hi
                       OFFSET 0) AS d
   WHERE q3c_sindist(d.ra, d.dec, cone_ra, cone_dec) < pow(sin(radians(radius_deg) / 2), 2);
END $$;
COMMENT ON FUNCTION xmm.detections_in_cone(double precision, double precision, double precision) IS
  'Detections within radius_deg of (cone_ra, cone_dec), in degrees: '
  'the rows of q3c_radial_query(ra, dec, cone_ra, cone_dec, radius_deg)';

-- The rows never pass through Python: PL/pgSQL runs the query, straight
-- into the function's result (no SQL wrapper: one materialisation).
CREATE FUNCTION xmm.xmm_search(q text) RETURNS SETOF xmm.source
LANGUAGE plpgsql VOLATILE SET search_path = xmm, public, pg_temp AS $$
BEGIN RETURN QUERY EXECUTE xmm.xmm_to_sql(q, 'source'); END $$;
COMMENT ON FUNCTION xmm.xmm_search(text) IS
  'Sources matching a search-language query (docs/search.md), e.g. xmm_search(''M82 AND is_ulx'')';

CREATE FUNCTION xmm.xmm_search_detections(q text) RETURNS SETOF xmm.detection
LANGUAGE plpgsql VOLATILE SET search_path = xmm, public, pg_temp AS $$
BEGIN RETURN QUERY EXECUTE xmm.xmm_to_sql(q, 'detection'); END $$;
COMMENT ON FUNCTION xmm.xmm_search_detections(text) IS
  'Detections matching a search-language query (cones on the detection position ra, dec)';

-- The position a query searches around: its first cone, or the name or position it is
-- (pages show distances from it). No row for a query without a cone.
-- python front: xmmdb.search.search_centre(db, q)
CREATE FUNCTION xmm.xmm_search_centre(q text)
RETURNS TABLE (name text, ra double precision, "dec" double precision, origin text) STABLE;
COMMENT ON FUNCTION xmm.xmm_search_centre(text) IS
  'The position a search-language query searches around (its first cone, or the name or position it is), '
  'resolved as xmm_resolve does: name, ra, dec (deg), origin; no row for a query without a cone';

-- A name -> its position, offline, in SQL (no Python: a new session's first
-- xmm_resolve of a name costs a few index lookups). The first that knows the
-- name wins: OpenNGC (NGC/IC, Messier, common names and the cross-identifiers
-- OpenNGC lists), xmm.name_cache, the catalogue's IAU names ('4XMM J...', the
-- prefix and spaces optional), the observation targets (their mean pointing).
-- Names compare by xmm.name_key(). One row, or none.
CREATE FUNCTION xmm.named_position(text)
RETURNS TABLE (name text, ra double precision, "dec" double precision, origin text)
LANGUAGE plpgsql STABLE STRICT SET search_path = xmm, public, pg_temp AS $$
DECLARE
  k text := xmm.name_key($1);
  iau text := substring(regexp_replace(upper($1), '[[:space:]]+', '', 'g')
                        FROM '^(?:4XMM)?J?([0-9]{6}\.[0-9][+-][0-9]{6})$');
BEGIN
  RETURN QUERY SELECT o.label, o.ra, o.dec, 'OpenNGC'
                 FROM xmm.object_name n JOIN xmm.ngc_object o USING (object) WHERE n.key = k;
  IF FOUND THEN RETURN; END IF;
  RETURN QUERY SELECT c.name, c.ra, c.dec, c.origin || ' (cached)' FROM xmm.name_cache c WHERE c.key = k;
  IF FOUND THEN RETURN; END IF;
  RETURN QUERY SELECT s.iauname, s.sc_ra, s.sc_dec, 'catalogue' FROM xmm.source s
                WHERE s.iauname = ANY (ARRAY[$1, '4XMM J' || iau]) LIMIT 1;
  IF FOUND THEN RETURN; END IF;
  -- the mean of the pointings' unit vectors, so that targets at RA 359.9 and 0.1 average to 0
  RETURN QUERY
    SELECT t.name, CASE WHEN t.lon < 0 THEN t.lon + 360 ELSE t.lon END, t.lat,
           format('observation target (%s observations)', t.n)
      FROM (SELECT min(o.target) AS name, count(*) AS n,
                   degrees(atan2(avg(cos(radians(o.dec_pnt)) * sin(radians(o.ra_pnt))),
                                 avg(cos(radians(o.dec_pnt)) * cos(radians(o.ra_pnt))))) AS lon,
                   degrees(atan2(avg(sin(radians(o.dec_pnt))),
                                 sqrt(avg(cos(radians(o.dec_pnt)) * cos(radians(o.ra_pnt))) ^ 2
                                      + avg(cos(radians(o.dec_pnt)) * sin(radians(o.ra_pnt))) ^ 2))) AS lat
              FROM xmm.observation o
             WHERE xmm.name_key(o.target) = k AND o.ra_pnt IS NOT NULL) AS t
     WHERE t.n > 0;
END $$;
COMMENT ON FUNCTION xmm.named_position(text) IS
  'Position of a name from the offline tables (OpenNGC, name cache, IAU names, observation targets), or no row';

-- Name or coordinates -> position (xmmdb.search.names): a name from the
-- tables above, a position written out, and only with SET xmm.sesame = on,
-- CDS Sesame over the network (its answers are cached). (The argument is
-- unnamed: a parameter may not share the name of an output column.)
-- python: xmmdb.search.resolve_rows(db, args[0])
CREATE FUNCTION xmm.python_resolve(text)
RETURNS TABLE (name text, ra double precision, "dec" double precision, origin text) VOLATILE;

-- A name in the tables needs no Python; anything else (a position written
-- out, an unknown name, text too long to be a name) goes to the resolver.
CREATE FUNCTION xmm.xmm_resolve(text)
RETURNS TABLE (name text, ra double precision, "dec" double precision, origin text)
LANGUAGE plpgsql VOLATILE SET search_path = xmm, public, pg_temp AS $$
DECLARE msg text; hint text; state text; ctx text;
BEGIN
  IF length($1) <= 256 THEN   -- xmmdb.search.names.MAX_NAME_LENGTH
    RETURN QUERY SELECT * FROM xmm.named_position(btrim($1));
    IF FOUND THEN RETURN; END IF;
  END IF;
  RETURN QUERY SELECT * FROM xmm.python_resolve($1);
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE,
                          ctx = PG_EXCEPTION_CONTEXT;
  PERFORM xmm.raise_error(msg, hint, state, ctx);
END $$;
COMMENT ON FUNCTION xmm.xmm_resolve(text) IS
  'Position of a name (M 31, NGC 0224, 4XMM J..., an observation target) or of written coordinates, offline';
