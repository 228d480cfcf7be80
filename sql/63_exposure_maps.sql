-- Exposure maps: how long, vignetting included, each camera looked at each
-- point of the sky, per energy band (the pipeline's P<obsid><inst><exp>EXPMAP<band>
-- files, SAS eexpmap images). `xmmdb load expmaps` stores each map as it is,
-- cropped to its non-zero pixels, and xmm_exposure(ra, dec) reads the pixel
-- under a position exactly (docs/upper-limits.md).
--
-- Pixels are float32, big-endian, row after row (FITS order: the first axis
-- varies fastest), kept uncompressed (STORAGE EXTERNAL) so that reading one
-- pixel fetches one TOAST chunk of the map, not the whole map.

CREATE TABLE xmm.exposure_map (
    map_id      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    obs_id      text NOT NULL CHECK (obs_id ~ '^[0-9]{10}$'),
    instrument  text NOT NULL CHECK (instrument IN ('EPN', 'EMOS1', 'EMOS2')),
    exp_id      text NOT NULL CHECK (exp_id ~ '^[SU][0-9]{3}$'),   -- EXPIDSTR, e.g. S003
    band        smallint CHECK (band IN (1, 2, 3, 4, 5, 8, 9)),   -- the catalogue's band, if it is one
    emin        real NOT NULL,                 -- eV (PI)
    emax        real NOT NULL,
    vignetted   boolean NOT NULL,
    nx          integer NOT NULL CHECK (nx BETWEEN 1 AND 8192),
    ny          integer NOT NULL CHECK (ny BETWEEN 1 AND 8192),
    -- the map's TAN WCS (north up, no rotation), pixels 1-based as in FITS
    crpix1      double precision NOT NULL, crpix2 double precision NOT NULL,
    crval1      double precision NOT NULL CHECK (crval1 >= 0 AND crval1 < 360),
    crval2      double precision NOT NULL CHECK (crval2 BETWEEN -90 AND 90),
    cdelt1      double precision NOT NULL CHECK (cdelt1 <> 0),   -- deg/pixel
    cdelt2      double precision NOT NULL CHECK (cdelt2 <> 0),
    ra_centre   double precision NOT NULL,     -- the stored pixels' centre and the
    dec_centre  double precision NOT NULL,     -- distance (deg) to their farthest corner
    radius      double precision NOT NULL CHECK (radius > 0 AND radius <= 1),
    max_exposure real NOT NULL CHECK (max_exposure >= 0),   -- s
    pixels      bytea NOT NULL,
    file        text NOT NULL,
    sha256      text NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (obs_id, instrument, exp_id, emin, emax),
    CHECK (0 <= emin AND emin < emax AND emax <= 20000),
    CHECK (octet_length(pixels) = 4 * nx * ny)
);
ALTER TABLE xmm.exposure_map ALTER pixels SET STORAGE EXTERNAL;
CREATE INDEX exposure_map_q3c_idx ON xmm.exposure_map (q3c_ang2ipix(ra_centre, dec_centre));
COMMENT ON TABLE xmm.exposure_map IS
  'Exposure maps (s, vignetted) per exposure and energy band, as loaded from EXPMAP files, cropped to their non-zero pixels';
SELECT pg_catalog.pg_extension_config_dump('xmm.exposure_map', '');
SELECT pg_catalog.pg_extension_config_dump('xmm.exposure_map_map_id_seq', '');

-- The pixel of a map under (ra, dec) deg (src/exposure_map.c): the gnomonic projection
-- about (crval1, crval2), the pixel whose centre is nearest (FITS pixel p covers
-- p - 0.5 .. p + 0.5), its float32 read from the one TOAST chunk that holds it;
-- NULL off the nx x ny pixels.
CREATE FUNCTION xmm.map_value(pixels bytea, ra double precision, "dec" double precision, nx integer, ny integer,
                              crpix1 double precision, crpix2 double precision, crval1 double precision,
                              crval2 double precision, cdelt1 double precision, cdelt2 double precision)
RETURNS double precision LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'xmm_map_value';

-- true, or the error that (ra, dec) is not a position on the sky, in the words of `what`.
CREATE FUNCTION xmm.checked_position(ra double precision, "dec" double precision, what text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT (ra BETWEEN -360 AND 720 AND "dec" BETWEEN -90 AND 90) OR ra IS NULL OR "dec" IS NULL THEN
    RAISE EXCEPTION '%: (%, %) is not a position on the sky', what, ra, "dec"
      USING ERRCODE = 'invalid_parameter_value', HINT = 'ra in degrees, dec in [-90, 90] degrees';
  END IF;
  RETURN true;
END $$;

CREATE FUNCTION xmm.xmm_exposure(ra double precision, "dec" double precision)
RETURNS TABLE (obs_id text, instrument text, exp_id text, band smallint, emin real, emax real,
               exposure double precision, vignetted boolean)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT m.obs_id, m.instrument, m.exp_id, m.band, m.emin, m.emax, v.exposure, m.vignetted
    FROM xmm.exposure_map m
   CROSS JOIN LATERAL (SELECT xmm.map_value(m.pixels, $1, $2, m.nx, m.ny, m.crpix1, m.crpix2, m.crval1, m.crval2,
                                             m.cdelt1, m.cdelt2) AS exposure) v
   WHERE xmm.checked_position($1, $2, 'xmm_exposure') AND q3c_join($1, $2, m.ra_centre, m.dec_centre, 1.0)
     AND q3c_dist($1, $2, m.ra_centre, m.dec_centre) <= m.radius
     AND v.exposure > 0     -- a map's zeros lie outside the camera's field of view
   ORDER BY m.obs_id, m.instrument, m.exp_id, m.emin, m.emax
$$;
COMMENT ON FUNCTION xmm.xmm_exposure(double precision, double precision) IS
  'Exposure (s, vignetted) at (ra, dec) deg in every loaded exposure map that saw it: per observation, camera, '
  'exposure and energy band (emin, emax eV; band: the catalogue''s band number); the map''s pixel there';
