-- The offline name resolver's tables (xmm_resolve, sql/22_search.sql).
-- Names compare by xmm.name_key(): upper case, no spaces or underscores,
-- MESSIER -> M, no leading zeros after a catalogue prefix, so 'M 31', 'm31',
-- 'Messier 31', 'NGC224' and 'NGC 0224' have the keys 'M31' and 'NGC224'.

CREATE FUNCTION xmm.name_key(name text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT regexp_replace(regexp_replace(upper(regexp_replace(name, '[[:space:]_]+', '', 'g')),
                                       '^MESSIER([0-9])', 'M\1'),
                        '^([A-Z]+)0+([0-9])', '\1\2')
$$;
COMMENT ON FUNCTION xmm.name_key(text) IS 'Normalised form of an object name for lookups (M 31 = m31 = Messier 31)';

-- NGC/IC objects from OpenNGC (CC-BY-SA 4.0, Mattia Verga), rows in sql/21_openngc_names.sql.
CREATE TABLE xmm.ngc_object (
    object  text PRIMARY KEY,          -- 'NGC 224'
    label   text NOT NULL,             -- 'NGC 224 (M31, Andromeda Galaxy)'
    type    text NOT NULL,             -- OpenNGC object type (G galaxy, OCl open cluster, ...)
    ra      double precision NOT NULL,
    dec     double precision NOT NULL
);
COMMENT ON TABLE xmm.ngc_object IS
  'NGC/IC objects with positions, from OpenNGC by Mattia Verga (CC-BY-SA 4.0, https://github.com/mattiaverga/OpenNGC)';

CREATE TABLE xmm.object_name (
    key     text PRIMARY KEY,          -- xmm.name_key(name)
    name    text NOT NULL,             -- as OpenNGC writes it: 'M31', 'NGC0224', 'Andromeda Galaxy', 'UGC 00454'
    object  text NOT NULL REFERENCES xmm.ngc_object
);
COMMENT ON TABLE xmm.object_name IS
  'Every name of an NGC/IC object (own name, Messier number, cross-identifiers, common names), from OpenNGC (CC-BY-SA 4.0)';

-- Answers of the online resolver (SET xmm.sesame = on), and names an
-- administrator adds by hand: INSERT INTO xmm.name_cache (key, name, ra, dec, origin)
-- VALUES (xmm.name_key('My field'), 'My field', 150.1, 2.2, 'by hand').
CREATE TABLE xmm.name_cache (
    key          text PRIMARY KEY,
    name         text NOT NULL,
    ra           double precision NOT NULL CHECK (ra >= 0 AND ra < 360),
    dec          double precision NOT NULL CHECK (dec BETWEEN -90 AND 90),
    origin       text NOT NULL,
    resolved_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE xmm.name_cache IS 'Resolved names kept for later (CDS Sesame answers, names added by hand)';

-- Observation targets are names too ('Abell 907', 'Lockman Hole').
CREATE INDEX observation_target_key_idx ON xmm.observation (xmm.name_key(target));
