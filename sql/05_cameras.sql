-- The EPIC cameras, one vocabulary: the INSTRUME keyword's EPN, EMOS1, EMOS2.
-- Stored and returned names are these; xmm.camera() also accepts the other
-- spellings users and file names use (PN; MOS1, M1; MOS2, M2) and returns NULL
-- for anything else. plpython/xmmdb/instruments.py holds the same table.
CREATE FUNCTION xmm.camera(name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE upper(btrim(name))
           WHEN 'EPN' THEN 'EPN' WHEN 'PN' THEN 'EPN'
           WHEN 'EMOS1' THEN 'EMOS1' WHEN 'MOS1' THEN 'EMOS1' WHEN 'M1' THEN 'EMOS1'
           WHEN 'EMOS2' THEN 'EMOS2' WHEN 'MOS2' THEN 'EMOS2' WHEN 'M2' THEN 'EMOS2'
         END
$$;
COMMENT ON FUNCTION xmm.camera(text) IS 'EPN, EMOS1 or EMOS2 for any spelling of an EPIC camera (PN, MOS1, M1, ...); NULL otherwise';
