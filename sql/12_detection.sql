-- One row per detection of a source in one observation (4XMM per-detection
-- columns). Bands: 1 0.2-0.5, 2 0.5-1, 3 1-2, 4 2-4.5, 5 4.5-12, 8 0.2-12,
-- 9 0.5-4.5 keV; fluxes in erg/cm2/s.

CREATE TABLE xmm.detection (
    detid          bigint PRIMARY KEY,
    srcid          bigint NOT NULL REFERENCES xmm.source ON DELETE CASCADE,
    obs_id         text NOT NULL REFERENCES xmm.observation,
    src_num        integer NOT NULL,
    ra             double precision NOT NULL CHECK (ra >= 0 AND ra < 360),
    dec            double precision NOT NULL CHECK (dec BETWEEN -90 AND 90),
    poserr         real,                 -- arcsec
    radec_err      real,
    syserrcc       real,
    lii            double precision,
    bii            double precision,
    ep_1_flux real, ep_1_flux_err real,
    ep_2_flux real, ep_2_flux_err real,
    ep_3_flux real, ep_3_flux_err real,
    ep_4_flux real, ep_4_flux_err real,
    ep_5_flux real, ep_5_flux_err real,
    ep_8_flux real, ep_8_flux_err real,
    ep_9_flux real, ep_9_flux_err real,
    pn_8_flux real, pn_8_flux_err real,
    m1_8_flux real, m1_8_flux_err real,
    m2_8_flux real, m2_8_flux_err real,
    ep_8_rate      real, ep_8_rate_err real,   -- counts/s
    ep_8_cts       real, ep_8_cts_err  real,
    ep_8_det_ml    real NOT NULL,              -- detection likelihood
    ep_extent      real, ep_extent_err real, ep_extent_ml real,
    ep_hr1 real, ep_hr1_err real,
    ep_hr2 real, ep_hr2_err real,
    ep_hr3 real, ep_hr3_err real,
    ep_hr4 real, ep_hr4_err real,
    pn_offax real, m1_offax real, m2_offax real,   -- arcmin
    pn_chi2prob real, m1_chi2prob real, m2_chi2prob real,
    pn_fvar real, pn_fvar_err real,
    var_flag       boolean,
    tseries        boolean,    -- pipeline light curve exists
    spectra        boolean,    -- pipeline spectrum exists
    sum_flag       smallint,   -- 0 good .. 4 spurious
    high_background boolean,
    confused       boolean,
    UNIQUE (obs_id, src_num)
);

CREATE INDEX detection_q3c_idx ON xmm.detection (q3c_ang2ipix(ra, dec));
CREATE INDEX detection_srcid_idx ON xmm.detection (srcid);
CLUSTER xmm.detection USING detection_q3c_idx;

COMMENT ON TABLE xmm.detection IS 'Detections of 4XMM sources, one per (observation, source number), Q3C-indexed on (ra, dec)';
