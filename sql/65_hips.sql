-- The X-ray sky as a HiPS (IVOA HiPS 1.0) built from the photon store, for
-- Aladin (docs/web.md, "Our own X-ray sky"); plpython/xmmdb/photons/hips.py
-- explains the tiles. Two HiPS share one set of tiles: "counts" (0.2-12 keV,
-- PNG and FITS) and "colour" (red 0.2-1, green 1-2, blue 2-12 keV, PNG).
--
--   photon loads mark the Q3C cells they wrote or replaced   xmm.hips_touch (loader/events.py)
--   the administrator rebuilds what is marked                SELECT xmm_hips_build();
--   readers (the web shim) read the files                    SELECT xmm_hips_file('counts', 'Norder7/Dir0/Npix1234.png');

-- One row per tile (orders 3 to 7): the counts of each band and the two PNGs.
CREATE TABLE xmm.hips_tile (
    norder      smallint NOT NULL CHECK (norder BETWEEN 0 AND 29),
    npix        bigint NOT NULL CHECK (npix >= 0),
    n_photons   bigint NOT NULL,               -- photons in the tile's HEALPix cell, 0.2-12 keV
    counts      bytea NOT NULL,                -- uint32 [band, row, column], 3 x 512 x 512, PNG orientation (lz4)
    counts_png  bytea,                         -- the counts HiPS' tile
    colour_png  bytea,                         -- the colour HiPS' tile
    built_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (norder, npix)
);
ALTER TABLE xmm.hips_tile ALTER counts SET COMPRESSION lz4, ALTER counts_png SET STORAGE EXTERNAL,
  ALTER colour_png SET STORAGE EXTERNAL;      -- PNGs are compressed already
SELECT pg_catalog.pg_extension_config_dump('xmm.hips_tile', '');
COMMENT ON TABLE xmm.hips_tile IS
  'Tiles of the HiPS of the photons (orders 3-7, 512x512 HEALPix pixels): counts per band and the PNGs; read them with xmm_hips_file()';

-- The last build: what built it and when, the stretch, Allsky and the MOC (at most one row).
CREATE TABLE xmm.hips_build (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    cut         real NOT NULL,                 -- top of the stretch, smoothed counts per 3.2" pixel (hips_pixel_cut)
    cuts_rgb    real[] NOT NULL,               -- the same for red, green, blue
    n_tiles     integer NOT NULL,              -- tiles of the deepest order
    n_photons   bigint NOT NULL,
    initial_ra  double precision NOT NULL,     -- hips_initial_ra/dec: the tile with the most photons
    initial_dec double precision NOT NULL,
    moc         bytea NOT NULL,                -- Moc.fits
    allsky_counts bytea COMPRESSION lz4 NOT NULL,   -- uint32 [band, 1856, 1728]: Norder3/Allsky counts
    allsky_counts_png bytea NOT NULL,
    allsky_colour_png bytea NOT NULL,
    builder     text NOT NULL,                 -- hips_builder: the release that built it
    options     jsonb NOT NULL,
    seconds     double precision NOT NULL,
    built_by    text NOT NULL DEFAULT current_user,
    built_at    timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('xmm.hips_build', '');
COMMENT ON TABLE xmm.hips_build IS 'The last build of the HiPS of the photons: when, by whom, with what, its stretch, Allsky and MOC';

-- Q3C cells (level 12, as xmm.photon_cell) whose photons changed since the last build.
CREATE TABLE xmm.hips_dirty (
    cell        bigint PRIMARY KEY,
    marked_at   timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('xmm.hips_dirty', '');
COMMENT ON TABLE xmm.hips_dirty IS 'Photon cells written since the HiPS of the photons was last built (xmm.hips_touch)';

-- Marks the cells an exposure holds now for the next build; with sha256, not when the
-- stored exposure came from that very file (loading it again changes nothing).
-- The loader calls it before it replaces an exposure and after it wrote one.
CREATE FUNCTION xmm.hips_touch(obs_id text, instrument text, exp_id text, sha256 text DEFAULT NULL)
RETURNS integer LANGUAGE sql VOLATILE SET search_path = xmm, public, pg_temp AS $$
  WITH marked AS (
    INSERT INTO xmm.hips_dirty (cell)
    SELECT DISTINCT c.cell FROM xmm.photon_cell c JOIN xmm.exposure e ON e.exp_key = c.exp_key
     WHERE e.obs_id = $1 AND e.instrument = $2 AND e.exp_id = $3 AND e.sha256 IS DISTINCT FROM $4
    ON CONFLICT (cell) DO NOTHING RETURNING 1)
  SELECT count(*)::integer FROM marked
$$;
COMMENT ON FUNCTION xmm.hips_touch(text, text, text, text) IS
  'Marks the photon cells of an exposure for the next xmm_hips_build (not when it was loaded from the file with this sha256)';

-- python front: xmmdb.photons.hips.build(db, options, notice=notice)
CREATE FUNCTION xmm.xmm_hips_build(options jsonb DEFAULT '{}')
RETURNS jsonb VOLATILE;
COMMENT ON FUNCTION xmm.xmm_hips_build(jsonb) IS
  'Rebuilds the HiPS of the photons where photon loads changed them (the archive administrator''s: not readers''); '
  'options: all (rebuild every tile and the stretch), max_tiles (at most this many order-7 tiles in this call; '
  'the rest stays marked). Returns what it built: tiles per order, photons read, seconds';

-- python front: xmmdb.photons.hips.hips_file(db, hips, path)
CREATE FUNCTION xmm.xmm_hips_file(hips text, path text)
RETURNS bytea STABLE;
COMMENT ON FUNCTION xmm.xmm_hips_file(text, text) IS
  'A file of the HiPS of the photons (hips: counts or colour) by its path: properties, Moc.fits, Norder3/Allsky.png, '
  'Norder<k>/Dir<d>/Npix<n>.png (and .fits for counts); NULL where the sky has no photons';
