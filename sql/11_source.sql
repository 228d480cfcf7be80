-- One row per unique X-ray source (4XMM SC_* columns: combined over all of
-- its detections).

CREATE TABLE xmm.source (
    srcid             bigint PRIMARY KEY,
    iauname           text NOT NULL UNIQUE,
    sc_ra             double precision NOT NULL CHECK (sc_ra >= 0 AND sc_ra < 360),
    sc_dec            double precision NOT NULL CHECK (sc_dec BETWEEN -90 AND 90),
    sc_poserr         real,               -- arcsec
    sc_det_ml         real,
    sc_ep_1_flux real, sc_ep_1_flux_err real,   -- 0.2-0.5 keV, erg/cm2/s
    sc_ep_2_flux real, sc_ep_2_flux_err real,   -- 0.5-1
    sc_ep_3_flux real, sc_ep_3_flux_err real,   -- 1-2
    sc_ep_4_flux real, sc_ep_4_flux_err real,   -- 2-4.5
    sc_ep_5_flux real, sc_ep_5_flux_err real,   -- 4.5-12
    sc_ep_8_flux real, sc_ep_8_flux_err real,   -- 0.2-12
    sc_ep_9_flux real, sc_ep_9_flux_err real,   -- 0.5-4.5
    sc_hr1 real, sc_hr1_err real,
    sc_hr2 real, sc_hr2_err real,
    sc_hr3 real, sc_hr3_err real,
    sc_hr4 real, sc_hr4_err real,
    sc_extent         real,               -- arcsec
    sc_ext_ml         real,
    sc_chi2prob       real,
    sc_fvar           real,
    sc_fvar_err       real,
    sc_var_flag       boolean,
    sc_sum_flag       smallint,
    sc_ep_8_fmin      real, sc_ep_8_fmin_err real,
    sc_ep_8_fmax      real, sc_ep_8_fmax_err real,
    mjd_first         double precision,
    mjd_last          double precision,
    n_detections      integer NOT NULL CHECK (n_detections > 0),
    is_ulx            boolean NOT NULL DEFAULT false,  -- xmmdb: candidate ultraluminous X-ray source
    comments          text                             -- xmmdb: free-text annotations (search with IN)
);

CREATE INDEX source_q3c_idx ON xmm.source (q3c_ang2ipix(sc_ra, sc_dec));
CLUSTER xmm.source USING source_q3c_idx;

COMMENT ON TABLE xmm.source IS 'Unique X-ray sources of the 4XMM catalogue (SC_* columns), Q3C-indexed on (sc_ra, sc_dec)';
