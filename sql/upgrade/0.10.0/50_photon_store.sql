-- the exposures whose field may hold a position (xmm_upper_limit): q3c_join on the tangent point
CREATE INDEX exposure_ref_idx ON xmm.exposure (q3c_ang2ipix(ra_ref, dec_ref));
