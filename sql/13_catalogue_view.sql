-- The 4XMM catalogue as distributed: one flat row per detection carrying its
-- source's SC_* columns and its observation's columns. It is also the input
-- format of `xmmdb load catalogue`: the loader stages a file into a table shaped
-- like this view and xmm.ingest_catalogue() splits it into the three tables.

CREATE VIEW xmm.catalogue AS
SELECT d.*,
       s.iauname, s.sc_ra, s.sc_dec, s.sc_poserr, s.sc_det_ml,
       s.sc_ep_1_flux, s.sc_ep_1_flux_err, s.sc_ep_2_flux, s.sc_ep_2_flux_err,
       s.sc_ep_3_flux, s.sc_ep_3_flux_err, s.sc_ep_4_flux, s.sc_ep_4_flux_err,
       s.sc_ep_5_flux, s.sc_ep_5_flux_err, s.sc_ep_8_flux, s.sc_ep_8_flux_err,
       s.sc_ep_9_flux, s.sc_ep_9_flux_err,
       s.sc_hr1, s.sc_hr1_err, s.sc_hr2, s.sc_hr2_err, s.sc_hr3, s.sc_hr3_err, s.sc_hr4, s.sc_hr4_err,
       s.sc_extent, s.sc_ext_ml, s.sc_chi2prob, s.sc_fvar, s.sc_fvar_err, s.sc_var_flag, s.sc_sum_flag,
       s.sc_ep_8_fmin, s.sc_ep_8_fmin_err, s.sc_ep_8_fmax, s.sc_ep_8_fmax_err,
       s.mjd_first, s.mjd_last, s.n_detections, s.is_ulx, s.comments,
       o.revolut, o.mjd_start, o.mjd_stop, o.obs_class,
       o.pn_filter, o.m1_filter, o.m2_filter, o.pn_submode, o.m1_submode, o.m2_submode,
       o.pn_ontime, o.m1_ontime, o.m2_ontime
  FROM xmm.detection d
  JOIN xmm.source s USING (srcid)
  JOIN xmm.observation o USING (obs_id);

COMMENT ON VIEW xmm.catalogue IS '4XMM-style flat catalogue: one row per detection with source and observation columns';

-- The observation list format (4XMM obslist): the observation table's columns less the footprint.
CREATE VIEW xmm.observation_list AS
SELECT obs_id, revolut, target, ra_pnt, dec_pnt, pa_pnt, mjd_start, mjd_stop, obs_class,
       pn_filter, m1_filter, m2_filter, pn_submode, m1_submode, m2_submode,
       pn_ontime, m1_ontime, m2_ontime
  FROM xmm.observation;

-- Columns a file must carry to be loaded; everything else in the format is optional.
CREATE FUNCTION xmm.required_columns(format text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE format
    WHEN 'catalogue' THEN ARRAY['detid', 'srcid', 'obs_id', 'src_num', 'iauname', 'ra', 'dec',
                                'ep_8_det_ml', 'sc_ra', 'sc_dec', 'mjd_start', 'mjd_stop']
    WHEN 'observation_list' THEN ARRAY['obs_id', 'ra_pnt', 'dec_pnt', 'mjd_start', 'mjd_stop']
  END
$$;
