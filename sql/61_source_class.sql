-- Classes of known objects, by position: "give me all photons from neutron stars".
--
-- A class comes from a catalogue of known objects that a user loads
-- (`xmmdb load classes FILE`: name, ra, dec, class per row): each object is
-- cross-matched with the catalogue sources within a stated radius, and every
-- source it matches gets its class, the object's name and the separation. The
-- search language's `class` is the class of a source's nearest match:
--   SELECT * FROM xmm_search('class = ''pulsar''');
-- and any SQL can join it:
--   SELECT p.* FROM xmm.source_class c JOIN xmm.source s USING (srcid)
--    CROSS JOIN LATERAL xmm_photons(s.sc_ra, s.sc_dec, 20) p WHERE c.class = 'pulsar';
CREATE TABLE xmm.source_class (
    srcid        bigint NOT NULL REFERENCES xmm.source ON DELETE CASCADE,
    class        text NOT NULL CHECK (class ~ '^[a-z0-9][a-z0-9 _+/-]{0,63}$'),
    catalogue    text NOT NULL CHECK (length(catalogue) BETWEEN 1 AND 200),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    separation   real NOT NULL CHECK (separation >= 0),      -- arcsec, source to object
    radius       real NOT NULL CHECK (radius > 0),           -- arcsec, the match radius used
    PRIMARY KEY (srcid, catalogue, name)
);
CREATE INDEX source_class_class_idx ON xmm.source_class (class);
COMMENT ON TABLE xmm.source_class IS
  'Classes of catalogue sources from loaded catalogues of known objects, matched by position within radius (arcsec)';
SELECT pg_catalog.pg_extension_config_dump('xmm.source_class', '');

-- Matches objects (parallel arrays, one element per object) of one catalogue with the
-- sources within each object's radius (arcsec) and stores their classes; the
-- catalogue's earlier matches are replaced (loading it again changes nothing). Returns
-- the number of objects, of those that matched a source, and of (source, object) rows.
CREATE FUNCTION xmm.classify(catalogue text, names text[], ra double precision[], "dec" double precision[],
                             classes text[], radius_arcsec double precision[])
RETURNS TABLE (objects integer, matched integer, stored integer)
LANGUAGE plpgsql SET search_path = xmm, public, pg_temp AS $$
DECLARE n integer := coalesce(cardinality(names), 0);
BEGIN
  IF n > 10000000 OR cardinality(ra) <> n OR cardinality("dec") <> n OR cardinality(classes) <> n
     OR cardinality(radius_arcsec) <> n THEN
    RAISE EXCEPTION 'classify: names, ra, dec, classes and radius_arcsec must have one element per object (at most 1e7)'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT FROM unnest(radius_arcsec) r WHERE NOT (r > 0 AND r <= 600)) THEN
    RAISE EXCEPTION 'classify: a match radius must be between 0 and 600 arcsec' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  DELETE FROM xmm.source_class c WHERE c.catalogue = classify.catalogue;
  WITH o AS (SELECT * FROM unnest(names, ra, "dec", classes, radius_arcsec) AS u (name, ra, dec, class, radius)),
  m AS (
    INSERT INTO xmm.source_class (srcid, class, catalogue, name, separation, radius)
    SELECT DISTINCT ON (s.srcid, o.name) s.srcid, lower(o.class), classify.catalogue, o.name,
           q3c_dist(s.sc_ra, s.sc_dec, o.ra, o.dec) * 3600, o.radius
      FROM o JOIN xmm.source s ON q3c_join(o.ra, o.dec, s.sc_ra, s.sc_dec, o.radius / 3600.0)
     ORDER BY s.srcid, o.name, q3c_dist(s.sc_ra, s.sc_dec, o.ra, o.dec)
    RETURNING name)
  SELECT n, count(DISTINCT m.name)::integer, count(*)::integer INTO objects, matched, stored FROM m;
  RETURN NEXT;
END $$;
COMMENT ON FUNCTION xmm.classify(text, text[], double precision[], double precision[], text[], double precision[]) IS
  'Stores the classes of a catalogue of known objects (name, ra, dec, class, radius arrays) on the sources within '
  'each radius (arcsec)';
