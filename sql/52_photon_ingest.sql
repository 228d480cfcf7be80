-- Loading event lists (loader/events.py): the loader reads and packs a file,
-- the database decides what it replaces. Per file, in one transaction:
--   SELECT * FROM xmm.exposure_begin(meta jsonb)   -> (exp_key, replaced) or (NULL, false): same file again
--   COPY xmm.photon_cell … FROM STDIN (FORMAT binary); COPY xmm.gti …
--   SELECT xmm.exposure_end(exp_key)               -> checks, observation row

-- Registers an exposure from its event-file header (columns of xmm.exposure,
-- plus target and revolut for the observation). The same file (sha256) again
-- is a no-op; another file of the same exposure replaces its photons and GTIs.
CREATE FUNCTION xmm.exposure_begin(meta jsonb, OUT exp_key integer, OUT replaced boolean)
LANGUAGE plpgsql AS $$
DECLARE
  r xmm.exposure := jsonb_populate_record(NULL::xmm.exposure, meta);
  old xmm.exposure;
BEGIN
  SELECT * INTO old FROM xmm.exposure e
   WHERE e.obs_id = r.obs_id AND e.instrument = r.instrument AND e.exp_id = r.exp_id FOR UPDATE;
  replaced := FOUND;
  IF FOUND THEN
    IF old.sha256 = r.sha256 THEN
      exp_key := NULL; replaced := false;
      RETURN;
    END IF;
    DELETE FROM xmm.photon_cell c WHERE c.exp_key = old.exp_key;
    DELETE FROM xmm.exposure e WHERE e.exp_key = old.exp_key;   -- and its GTIs
  END IF;
  INSERT INTO xmm.exposure (obs_id, instrument, exp_id, filter, datamode, submode, tstart, tstop, ontime,
                            ra_pnt, dec_pnt, pa_pnt, x_ref, y_ref, ra_ref, dec_ref, x_delt, y_delt,
                            n_photons, file, sha256)
  VALUES (r.obs_id, r.instrument, r.exp_id, r.filter, r.datamode, r.submode, r.tstart, r.tstop, r.ontime,
          r.ra_pnt, r.dec_pnt, r.pa_pnt, r.x_ref, r.y_ref, r.ra_ref, r.dec_ref, r.x_delt, r.y_delt,
          r.n_photons, r.file, r.sha256)
  RETURNING xmm.exposure.exp_key INTO exp_key;
  -- The observation: created if the catalogue does not have it yet; an existing
  -- row keeps its values and gains what it lacked (pointing, footprint, on-time).
  INSERT INTO xmm.observation AS o (obs_id, revolut, target, ra_pnt, dec_pnt, pa_pnt, mjd_start, mjd_stop, footprint,
                                    pn_filter, m1_filter, m2_filter, pn_ontime, m1_ontime, m2_ontime)
  SELECT r.obs_id, (meta->>'revolut')::integer, meta->>'target', pnt_ra, pnt_dec, r.pa_pnt,
         50814.0 + r.tstart / 86400.0, 50814.0 + r.tstop / 86400.0, xmm.epic_footprint(pnt_ra, pnt_dec),
         CASE r.instrument WHEN 'EPN' THEN r.filter END, CASE r.instrument WHEN 'EMOS1' THEN r.filter END,
         CASE r.instrument WHEN 'EMOS2' THEN r.filter END, CASE r.instrument WHEN 'EPN' THEN r.ontime END,
         CASE r.instrument WHEN 'EMOS1' THEN r.ontime END, CASE r.instrument WHEN 'EMOS2' THEN r.ontime END
    FROM (SELECT coalesce(r.ra_pnt, r.ra_ref) AS pnt_ra, coalesce(r.dec_pnt, r.dec_ref) AS pnt_dec) AS p
  ON CONFLICT (obs_id) DO UPDATE SET
    revolut = coalesce(o.revolut, excluded.revolut), target = coalesce(o.target, excluded.target),
    pa_pnt = coalesce(o.pa_pnt, excluded.pa_pnt), footprint = coalesce(o.footprint, excluded.footprint),
    pn_filter = coalesce(o.pn_filter, excluded.pn_filter), m1_filter = coalesce(o.m1_filter, excluded.m1_filter),
    m2_filter = coalesce(o.m2_filter, excluded.m2_filter), pn_ontime = coalesce(o.pn_ontime, excluded.pn_ontime),
    m1_ontime = coalesce(o.m1_ontime, excluded.m1_ontime), m2_ontime = coalesce(o.m2_ontime, excluded.m2_ontime)
  WHERE (o.revolut, o.target, o.pa_pnt, o.pn_filter, o.m1_filter, o.m2_filter, o.pn_ontime, o.m1_ontime, o.m2_ontime)
        IS NOT NULL IS FALSE OR o.footprint IS NULL;
END $$;

-- After the COPY: the photon count must be what the file held.
CREATE FUNCTION xmm.exposure_end(key integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE e xmm.exposure; stored bigint;
BEGIN
  SELECT * INTO e FROM xmm.exposure WHERE exp_key = key;
  SELECT coalesce(sum(n), 0) INTO stored FROM xmm.photon_cell WHERE exp_key = key;
  IF stored <> e.n_photons THEN
    RAISE EXCEPTION '%: % photons read but % stored', e.file, e.n_photons, stored
      USING ERRCODE = 'data_exception', HINT = 'nothing was written';
  END IF;
END $$;
