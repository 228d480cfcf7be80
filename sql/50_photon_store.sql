-- The all-time photon store (docs/photons.md explains the layout and why).
--
-- A photon is never a row. Photons are packed as parallel arrays, one row per
-- (exposure, sky cell): a cell is a Q3C quadtree node of level 12, i.e.
--     cell = q3c_ang2ipix(ra, dec) >> 36        (~1.3' on a side)
-- so the key is Q3C's own: a cone becomes a short list of cells
-- (xmm.cone_cells) found by q3c's own cover of the circle, and one btree probe
-- per cell. Inside a row the photons are sorted by time and stored as
--     tl int4[]  microseconds since t0, low 31 bits       (TIME, lossless to 1 us)
--     th int2[]  microseconds since t0 >> 31 (mostly 0)   (compresses to nothing)
--     dx, dy int2[]  sky X/Y pixel (0.05") minus the row's x0/y0 (lossless)
--     pi int2[]  PI in eV;  pc int2[] PATTERN << 8 | CCDNR;  flag int4[] FLAG
-- and RA/Dec are computed from X/Y with the exposure's own sky WCS (TCRPXn,
-- TCRVLn, TCDLTn of the event file), exactly as the event file defines them.
-- The arrays are compressed (lz4) and partitioned by ranges of the cell key,
-- i.e. by sky region: a region query touches one partition.

-- One row per loaded event list: an EPIC exposure of one instrument.
CREATE TABLE xmm.exposure (
    exp_key     integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    obs_id      text NOT NULL CHECK (obs_id ~ '^[0-9]{10}$'),
    instrument  text NOT NULL CHECK (instrument IN ('EPN', 'EMOS1', 'EMOS2')),
    exp_id      text NOT NULL,                 -- EXPIDSTR, e.g. S003 / U002
    filter      text,
    datamode    text,
    submode     text,
    tstart      double precision NOT NULL,     -- TT s since MJDREF 50814
    tstop       double precision NOT NULL,
    ontime      real,                          -- s, sum of the exposure's GTIs (CCD with the most)
    ra_pnt      double precision, dec_pnt double precision, pa_pnt double precision,
    -- the sky WCS of X/Y (RA---TAN / DEC--TAN) read from the event file
    x_ref       double precision NOT NULL,     -- TCRPXn of X
    y_ref       double precision NOT NULL,     -- TCRPXn of Y
    ra_ref      double precision NOT NULL,     -- TCRVLn of X, deg
    dec_ref     double precision NOT NULL,     -- TCRVLn of Y, deg
    x_delt      double precision NOT NULL,     -- TCDLTn of X, deg/pixel
    y_delt      double precision NOT NULL,     -- TCDLTn of Y, deg/pixel
    sin_ra_ref  double precision GENERATED ALWAYS AS (sin(radians(ra_ref))) STORED,
    cos_ra_ref  double precision GENERATED ALWAYS AS (cos(radians(ra_ref))) STORED,
    sin_dec_ref double precision GENERATED ALWAYS AS (sin(radians(dec_ref))) STORED,
    cos_dec_ref double precision GENERATED ALWAYS AS (cos(radians(dec_ref))) STORED,
    n_photons   bigint NOT NULL DEFAULT 0,
    file        text NOT NULL,
    sha256      text NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (obs_id, instrument, exp_id)
);
CREATE INDEX exposure_obs_idx ON xmm.exposure (obs_id);
-- the exposures whose field may hold a position (xmm_upper_limit): q3c_join on the tangent point
CREATE INDEX exposure_ref_idx ON xmm.exposure (q3c_ang2ipix(ra_ref, dec_ref));
COMMENT ON TABLE xmm.exposure IS 'EPIC exposures whose event lists are loaded: instrument, times, the sky WCS of X/Y';

-- Good time intervals per exposure and CCD (ccdnr 0: the whole exposure).
CREATE TABLE xmm.gti (
    obs_id      text NOT NULL,
    instrument  text NOT NULL,
    exp_id      text NOT NULL,
    ccdnr       smallint NOT NULL,
    start       double precision NOT NULL,     -- TT s since MJDREF 50814
    stop        double precision NOT NULL,
    FOREIGN KEY (obs_id, instrument, exp_id) REFERENCES xmm.exposure (obs_id, instrument, exp_id) ON DELETE CASCADE,
    CHECK (stop >= start)
);
CREATE INDEX gti_exposure_idx ON xmm.gti (obs_id, instrument, exp_id, ccdnr, start);
COMMENT ON TABLE xmm.gti IS 'Good time intervals of each loaded exposure, per CCD (the filtered GTIs of SAS lists, else STDGTInn)';

-- The spacecraft orbit of an observation (P<obsid>OBX000ORBTSR0000.FTZ).
CREATE TABLE xmm.orbit (
    obs_id      text NOT NULL CHECK (obs_id ~ '^[0-9]{10}$'),
    time        double precision NOT NULL,     -- TT s since MJDREF 50814
    x           double precision NOT NULL,     -- GEI, km
    y           double precision NOT NULL,
    z           double precision NOT NULL,
    PRIMARY KEY (obs_id, time)
);
COMMENT ON TABLE xmm.orbit IS 'XMM-Newton orbit (GEI X/Y/Z, km) per observation, from the pipeline orbit file';

-- The packed photons. Partitioned by ranges of the cell key: 24 sky regions
-- (each Q3C cube face split in four); see docs/photons.md for the scaling.
CREATE TABLE xmm.photon_cell (
    cell        bigint NOT NULL,               -- q3c_ang2ipix(ra, dec) >> 36
    exp_key     integer NOT NULL,
    n           integer NOT NULL,
    x0          integer NOT NULL,
    y0          integer NOT NULL,
    t0          double precision NOT NULL,     -- TT s of the first photon
    tl          integer[] NOT NULL,
    th          smallint[] NOT NULL,
    dx          smallint[] NOT NULL,
    dy          smallint[] NOT NULL,
    pi          smallint[] NOT NULL,
    pc          smallint[] NOT NULL,
    flag        integer[] NOT NULL
) PARTITION BY RANGE (cell);
-- The key (cell, exp_key) is a unique index of each partition (below), not of
-- the parent: PostgreSQL allows foreign (postgres_fdw) partitions only under a
-- parent without unique indexes, and a sky region moved to another server
-- keeps its own unique index there (tests/test_sharding.py, docs/scaling.md).
-- lz4, compressed in line (MAIN): a packed row is read with its heap page, no
-- TOAST index lookups; only rows still larger than a page go out of line.
ALTER TABLE xmm.photon_cell ALTER tl SET COMPRESSION lz4, ALTER th SET COMPRESSION lz4,
  ALTER dx SET COMPRESSION lz4, ALTER dy SET COMPRESSION lz4, ALTER pi SET COMPRESSION lz4,
  ALTER pc SET COMPRESSION lz4, ALTER flag SET COMPRESSION lz4,
  ALTER tl SET STORAGE MAIN, ALTER th SET STORAGE MAIN, ALTER dx SET STORAGE MAIN, ALTER dy SET STORAGE MAIN,
  ALTER pi SET STORAGE MAIN, ALTER pc SET STORAGE MAIN, ALTER flag SET STORAGE MAIN;
CREATE INDEX photon_cell_exp_idx ON xmm.photon_cell (exp_key);
COMMENT ON TABLE xmm.photon_cell IS
  'Photons packed per (exposure, ~1.3'' Q3C cell) as time-sorted arrays; query them through the view photon or xmm_photons()';

-- Cell numbers: 6 faces x 4^12 level-12 nodes. A partition covers a quarter face.
CREATE FUNCTION xmm.photon_cell_count() RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT 6 * (4::bigint ^ 12)::bigint $$;

DO $$
DECLARE k int; step bigint := (4::bigint ^ 11)::bigint;
BEGIN
  FOR k IN 0..23 LOOP
    EXECUTE format('CREATE TABLE xmm.photon_cell_%s PARTITION OF xmm.photon_cell FOR VALUES FROM (%s) TO (%s)
                    WITH (toast_tuple_target = 256)',
                   lpad(k::text, 2, '0'), k * step, (k + 1) * step);
    EXECUTE format('ALTER TABLE xmm.photon_cell_%1$s ADD CONSTRAINT photon_cell_%1$s_key UNIQUE (cell, exp_key)',
                   lpad(k::text, 2, '0'));
  END LOOP;
END $$;

-- The cell of a position (same as q3c_ang2ipix(ra, dec) >> 36).
CREATE FUNCTION xmm.photon_cell_of(ra double precision, "dec" double precision) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT q3c_ang2ipix(ra, dec) >> 36 $$;

-- The cells that may hold photons within radius_deg of (ra, dec): q3c's own
-- cover of the circle (the ranges its index scans use), coarsened to cells.
-- The radius is padded by 0.01" so that a photon on a cell edge is never lost
-- to rounding. IMMUTABLE: with constant arguments the planner folds the list
-- into a constant and prunes the partitions.
-- Every photon region is bounded: a cone of at most max_cone_radius() (deg), a
-- whole EPIC field (15' radius) with room around it. An all-sky cone wrote
-- 1.7 GB of temporary files in 20 s. Checked when the cells are found, i.e. at
-- plan time for constant arguments, before any photon is read.
CREATE FUNCTION xmm.max_cone_radius() RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT 1.5::float8 $$;
COMMENT ON FUNCTION xmm.max_cone_radius() IS 'Largest radius (deg) of a photon region query';

CREATE FUNCTION xmm.checked_cone_radius(ra double precision, "dec" double precision, radius_deg double precision)
RETURNS double precision LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT (ra BETWEEN -360 AND 720 AND "dec" BETWEEN -90 AND 90) THEN      -- NaN and infinities fail too
    RAISE EXCEPTION 'photon region: (%, %) is not a position on the sky', ra, "dec"
      USING ERRCODE = 'invalid_parameter_value', HINT = 'ra in degrees, dec in [-90, 90] degrees';
  END IF;
  IF NOT (radius_deg >= 0 AND radius_deg <= xmm.max_cone_radius()) THEN
    RAISE EXCEPTION 'photon region: a radius of % arcsec; it must be from 0 to % arcsec (% deg)',
      radius_deg * 3600, xmm.max_cone_radius() * 3600, xmm.max_cone_radius()
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN radius_deg;
END $$;

CREATE FUNCTION xmm.cone_cells(ra double precision, "dec" double precision, radius_deg double precision)
RETURNS bigint[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT array_agg(DISTINCT c ORDER BY c)
    FROM xmm.cone_ranges(ra, dec, xmm.checked_cone_radius(ra, dec, radius_deg) + 2.8e-6) AS ranges,
         generate_series(lo >> 36, (hi - 1) >> 36) AS c
$$;
COMMENT ON FUNCTION xmm.cone_cells(double precision, double precision, double precision) IS
  'Photon cells overlapping a cone (deg): use as  WHERE cell = ANY (xmm.cone_cells(ra, dec, r))  on photon';

-- Gnomonic (TAN) deprojection of intermediate world coordinates xi, eta
-- (radians) about (ra_ref, dec_ref): FITS WCS Paper II, LONPOLE 180.
-- RA is the angle of the rotated vector; atan2(-y, -x) + 180 deg lands in [0, 360).
CREATE FUNCTION xmm.tan_ra(xi double precision, eta double precision, sin_ra_ref double precision,
                           cos_ra_ref double precision, sin_dec_ref double precision, cos_dec_ref double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 180.0::float8 + degrees(atan2(-(sin_ra_ref * (cos_dec_ref - eta * sin_dec_ref) + cos_ra_ref * xi),
                                       -(cos_ra_ref * (cos_dec_ref - eta * sin_dec_ref) - sin_ra_ref * xi)))
$$;
CREATE FUNCTION xmm.tan_dec(xi double precision, eta double precision,
                            sin_dec_ref double precision, cos_dec_ref double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT degrees(atan2(sin_dec_ref + eta * cos_dec_ref,
                       sqrt(xi * xi + (cos_dec_ref - eta * sin_dec_ref) ^ 2)))
$$;
