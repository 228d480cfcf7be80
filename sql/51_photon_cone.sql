-- The photons of one packed row within a cone that pass the event selection,
-- decoded: C (src/photon_cone.c), because it runs once per stored photon of
-- the cone's cells. Same arithmetic as the view xmm.photon (xmm.photon_time,
-- xmm.tan_ra, xmm.tan_dec), bit for bit; a pixel box rejects most photons of a
-- row with integer compares before the exact test in the exposure's tangent
-- plane. The selection is xmm.event_rule's; the flare filter xmm.flare_free's
-- rule for flare_mode ('off', 'pipeline', 'rate' with flare_threshold) over the
-- exposure's flare_series row (NULL: none loaded, so nothing passes a filter).
-- NULL tmin/tmax: no time limit.
CREATE FUNCTION xmm.cone_photons(cell xmm.photon_cell, exposure xmm.exposure,
                                 ra double precision, "dec" double precision, radius_deg double precision,
                                 emin double precision, emax double precision,
                                 tmin double precision, tmax double precision,
                                 rule integer[], flare_mode text, flare_threshold double precision,
                                 flare xmm.flare_series)
RETURNS TABLE ("time" double precision, ra double precision, "dec" double precision, pi integer,
               pattern smallint, flag integer, ccdnr smallint, x integer, y integer)
LANGUAGE c IMMUTABLE PARALLEL SAFE COST 10 ROWS 100 AS 'MODULE_PATHNAME', 'xmm_cone_photons';
COMMENT ON FUNCTION xmm.cone_photons IS
  'The selected photons of one packed photon_cell row within radius_deg of (ra, dec), PI in [emin, emax], '
  'time in [tmin, tmax]';

-- The same photons as one row of arrays (none when no photon passes): for bulk
-- delivery, one value per column instead of a tuple per photon.
CREATE FUNCTION xmm.cone_photon_arrays(cell xmm.photon_cell, exposure xmm.exposure,
                                       ra double precision, "dec" double precision, radius_deg double precision,
                                       emin double precision, emax double precision,
                                       tmin double precision, tmax double precision,
                                       rule integer[], flare_mode text, flare_threshold double precision,
                                       flare xmm.flare_series)
RETURNS TABLE (n integer, "time" double precision[], ra double precision[], "dec" double precision[],
               pi integer[], pattern smallint[], flag integer[], ccdnr smallint[], x integer[], y integer[])
LANGUAGE c IMMUTABLE PARALLEL SAFE COST 10 ROWS 1 AS 'MODULE_PATHNAME', 'xmm_cone_photon_arrays';
COMMENT ON FUNCTION xmm.cone_photon_arrays IS
  'The photons of xmm.cone_photons as one row of arrays, a column each';
