-- The pipeline's flaring-background time series of an exposure
-- (P<obsid><inst><S|U><exp>FBKTSR0000.FTZ): the RATE curve of high-energy
-- events in regular bins of timedel s (times at bin centres), the rate cut the
-- pipeline chose (FLCUTTHR) and its flare-free intervals (SRC_GTIS). Photon
-- functions use it with {"flare_filter": ...} (sql/51_event_selection.sql).
CREATE TABLE xmm.flare_series (
    obs_id      text NOT NULL CHECK (obs_id ~ '^[0-9]{10}$'),
    instrument  text NOT NULL CHECK (instrument IN ('EPN', 'EMOS1', 'EMOS2')),
    exp_id      text NOT NULL,
    timedel     double precision NOT NULL CHECK (timedel > 0),   -- s
    time        double precision[] NOT NULL,   -- TT s since MJDREF 50814, bin centres
    rate        real[] NOT NULL,               -- counts/s
    threshold   real,                          -- FLCUTTHR, counts/s
    gti_start   double precision[] NOT NULL,   -- SRC_GTIS, TT s
    gti_stop    double precision[] NOT NULL,
    file        text NOT NULL,
    sha256      text NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (obs_id, instrument, exp_id),
    CHECK (cardinality(time) = cardinality(rate) AND cardinality(time) > 0),
    CHECK (cardinality(gti_start) = cardinality(gti_stop))
);
COMMENT ON TABLE xmm.flare_series IS
  'Flaring-background rate curve of each exposure and the pipeline''s flare-free intervals (FBKTSR files)';
SELECT pg_catalog.pg_extension_config_dump('xmm.flare_series', '');
