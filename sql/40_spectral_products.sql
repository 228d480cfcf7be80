-- Spectral products: EPIC spectra (OGIP PHA type I) and their responses.
--   xmm.response   ARFs and RMFs, each stored once (keyed by a checksum of its content),
--                  with every file name it was loaded as. A spectrum links to the
--                  responses loaded with it by content; by name only to a canned
--                  RMF of the store (pipeline spectra name canned RMFs in RESPFILE),
--                  and only when that name means one content.
--   xmm.spectrum   source and background spectra, linked to their detection, background and responses.
-- Loading them is sql/43_spectral_ingest.sql.

CREATE TABLE xmm.response (
    response_id  bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('rmf', 'arf')),
    name         text NOT NULL,                 -- the file name it was first loaded as
    names        text[] NOT NULL,               -- every file name seen with this content
    sha256       text NOT NULL UNIQUE,          -- of the content (arrays), not of the file bytes
    instrument   text,
    energ_lo     double precision[] NOT NULL,   -- keV
    energ_hi     double precision[] NOT NULL,
    specresp     double precision[],            -- ARF: effective area, cm2
    detchans     integer,                       -- RMF: channels, first channel number, EBOUNDS
    chan_offset  integer,
    e_min        double precision[],
    e_max        double precision[],
    n_grp        bytea,                         -- RMF compressed matrix as little-endian int32 / float32
    f_chan       bytea,                         -- vectors (Sherpa's DataRMF layout)
    n_chan       bytea,
    matrix       bytea,
    loaded_at    timestamptz NOT NULL DEFAULT now(),
    canned       boolean NOT NULL DEFAULT false,  -- loaded into the store (xmmdb load responses): found by name
    CHECK (kind = 'arf' AND specresp IS NOT NULL OR kind = 'rmf' AND matrix IS NOT NULL AND detchans > 0)
);
CREATE INDEX response_names_idx ON xmm.response USING gin (names);
COMMENT ON TABLE xmm.response IS 'ARFs and RMFs, stored once per content; canned RMFs are also found by their file names';

CREATE TABLE xmm.spectrum (
    spectrum_id   bigserial PRIMARY KEY,
    file          text NOT NULL,                -- file name (pipeline: P<obsid><inst><S|U><exp>SRSPEC<src>.FTZ)
    obs_id        text NOT NULL DEFAULT '',     -- '' when the file does not say
    kind          text NOT NULL CHECK (kind IN ('source', 'background')),
    instrument    text NOT NULL CHECK (instrument IN ('EPN', 'EMOS1', 'EMOS2')),
    exp_id        text,                         -- exposure, e.g. S001
    src_num       integer,                      -- pipeline source number (hexadecimal in file names)
    detid         bigint REFERENCES xmm.detection ON DELETE SET NULL,
    ra            double precision,             -- extraction region centre, when the file gives it
    dec           double precision,
    exposure      double precision NOT NULL CHECK (exposure > 0),   -- s
    backscal      double precision NOT NULL CHECK (backscal > 0),
    areascal      double precision NOT NULL DEFAULT 1 CHECK (areascal > 0),
    channel_first integer NOT NULL,
    detchans      integer,
    counts        double precision[] NOT NULL,
    quality       smallint[],
    grouping      smallint[],
    total_counts  double precision NOT NULL,
    backfile      text,                         -- as named in the header
    respfile      text,
    ancrfile      text,
    background_id bigint REFERENCES xmm.spectrum ON DELETE SET NULL,
    rmf_id        bigint REFERENCES xmm.response,
    arf_id        bigint REFERENCES xmm.response,
    header        jsonb,
    sha256        text NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    -- arcsec: the circle of the region's area; BACKSCAL is in (0.05")² sky pixels
    region_radius double precision GENERATED ALWAYS AS (sqrt(backscal / pi()) * 0.05) STORED,
    UNIQUE (obs_id, file)
);
CREATE INDEX spectrum_detid_idx ON xmm.spectrum (detid);
COMMENT ON TABLE xmm.spectrum IS 'EPIC source and background spectra (OGIP PHA type I), with links to detection, background, RMF and ARF';
