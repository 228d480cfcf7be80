-- One row per XMM-Newton observation (4XMM observation list + what the
-- catalogue says of it). The footprint is the EPIC field of view as a
-- pgSphere polygon, so "which observations cover this point/region" is one
-- GiST-indexed predicate:  WHERE footprint @> spoint(radians(ra), radians(dec)).

CREATE TABLE xmm.observation (
    obs_id      text PRIMARY KEY CHECK (obs_id ~ '^[0-9]{10}$'),
    revolut     integer,
    target      text,                    -- OBJECT: the PI's target name
    ra_pnt      double precision,        -- pointing, deg (ICRS)
    dec_pnt     double precision,
    pa_pnt      double precision,        -- position angle, deg
    mjd_start   double precision NOT NULL,
    mjd_stop    double precision NOT NULL,
    obs_class   smallint,                -- 4XMM OBS_CLASS 0 (clean) .. 5 (bad)
    pn_filter   text, m1_filter text, m2_filter text,
    pn_submode  text, m1_submode text, m2_submode text,
    pn_ontime   real, m1_ontime real, m2_ontime real,   -- s
    footprint   spoly,
    CHECK (mjd_stop >= mjd_start)
);

CREATE INDEX observation_pnt_idx ON xmm.observation (q3c_ang2ipix(ra_pnt, dec_pnt));
CREATE INDEX observation_footprint_idx ON xmm.observation USING gist (footprint);

COMMENT ON TABLE xmm.observation IS 'XMM-Newton observations: pointing, dates, instrument set-up, EPIC footprint (pgSphere)';
COMMENT ON COLUMN xmm.observation.footprint IS 'EPIC field of view (15 arcmin radius about the pointing) as spoly';
