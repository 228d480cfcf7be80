-- DataLink (IVOA DataLink 1.1): every source, detection, observation and spectrum linked
-- to what can be had of it (pages, files, previews, the event-extraction service), by the
-- identifiers of sql/83_obscore.sql.

-- DataLink: the links of each identifier (DataLink 1.1 {links} table). A link to another
-- identifier's links has content_type 'application/x-votable+xml;content=datalink'; a
-- service (semantics #proc) has service_def, which the web shim describes.
CREATE FUNCTION xmm.datalink(ids text[])
RETURNS TABLE (id text, access_url text, service_def text, error_message text, semantics text,
               description text, content_type text, content_length bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  one text; kind text; key text; known boolean; base text := xmm.service_url();
  dl constant text := 'application/x-votable+xml;content=datalink';
BEGIN
  IF cardinality(ids) > 100 THEN
    RAISE EXCEPTION 'DataLink takes at most 100 identifiers a request, not %', cardinality(ids)
      USING ERRCODE = 'program_limit_exceeded';
  END IF;
  FOREACH one IN ARRAY coalesce(ids, '{}') LOOP
    kind := substring(one FROM '^ivo://xmmdb/(source|detection|observation|spectrum)\?');
    key := substring(one FROM '^ivo://xmmdb/[a-z]+\?([0-9]{1,18})$');   -- 18 digits: always a bigint
    IF kind IS NULL OR key IS NULL THEN
      RETURN QUERY SELECT one, NULL, NULL, 'NotFoundFault: ' || left(one, 200) || ' is not an identifier of this archive',
                          NULL, NULL, NULL, NULL::bigint;
      CONTINUE;
    END IF;
    IF kind = 'observation' THEN
      key := lpad(key, 10, '0');
    END IF;
    known := CASE kind WHEN 'source' THEN EXISTS (SELECT FROM xmm.source s WHERE s.srcid = key::bigint)
                       WHEN 'detection' THEN EXISTS (SELECT FROM xmm.detection d WHERE d.detid = key::bigint)
                       WHEN 'observation' THEN EXISTS (SELECT FROM xmm.observation o WHERE o.obs_id = key)
                       ELSE EXISTS (SELECT FROM xmm.spectrum s WHERE s.spectrum_id = key::bigint) END;
    IF NOT known THEN
      RETURN QUERY SELECT one, NULL, NULL, format('NotFoundFault: no %s %s', kind, key), NULL, NULL, NULL, NULL::bigint;
      CONTINUE;
    END IF;
    IF kind = 'source' THEN
      RETURN QUERY
        SELECT one, base || '/source/' || key, NULL, NULL, '#this', 'source page: detections, fit, light curve',
               'text/html', NULL::bigint
        UNION ALL
        SELECT one, base || '/datalink?ID=' || 'ivo://xmmdb/detection?' || d.detid, NULL, NULL, '#progenitor',
               'detection in observation ' || d.obs_id, dl, NULL::bigint
          FROM xmm.detection d WHERE d.srcid = key::bigint
        UNION ALL
        SELECT one, base || '/source/' || key || '/fit.png', NULL, NULL, '#preview-plot',
               'spectral fit (absorbed power law) of its stored spectra', 'image/png', NULL::bigint
         WHERE EXISTS (SELECT FROM xmm.spectrum s JOIN xmm.detection d USING (detid)
                        WHERE d.srcid = key::bigint AND s.kind = 'source')
        UNION ALL
        SELECT one, base || '/source/' || key || v.path, NULL, NULL, v.semantics, v.description, v.mime, NULL::bigint
          FROM (VALUES ('/events.fits', '#coderived', 'its photons as an OGIP event file, every epoch', 'application/fits'),
                       ('/events.fits?barycentre=1', '#coderived', 'its photons, barycentred (TDB, JPL DE421)',
                        'application/fits'),
                       ('/lightcurve.png', '#preview-plot', 'light curve (100 s bins, one panel per observation)',
                        'image/png'),
                       ('/image.fits', '#coderived', 'X-ray image around it from the photons', 'application/fits'),
                       ('/history.json', '#auxiliary', 'long-term light curve: fluxes and upper limits per observation',
                        'application/json')) AS v(path, semantics, description, mime)
         WHERE EXISTS (SELECT FROM xmm.detection d JOIN xmm.exposure e USING (obs_id)
                        WHERE d.srcid = key::bigint AND e.n_photons > 0)
        UNION ALL
        SELECT one, NULL, 'events', NULL, '#proc', 'event extraction: RADIUS (arcsec), BAND (eV), BARYCENTRE',
               'application/fits', NULL::bigint;
    ELSIF kind = 'detection' THEN
      RETURN QUERY
        SELECT one, base || '/detection/' || key, NULL, NULL, '#this', 'detection page', 'text/html', NULL::bigint
        UNION ALL
        SELECT one, base || '/datalink?ID=ivo://xmmdb/source?' || d.srcid, NULL, NULL, '#derivation',
               'the catalogue source it belongs to', dl, NULL::bigint
          FROM xmm.detection d WHERE d.detid = key::bigint
        UNION ALL
        SELECT one, base || '/datalink?ID=ivo://xmmdb/observation?' || d.obs_id, NULL, NULL, '#progenitor',
               'the observation', dl, NULL::bigint
          FROM xmm.detection d WHERE d.detid = key::bigint
        UNION ALL
        SELECT one, base || '/spectrum/' || s.spectrum_id || '.fits', NULL, NULL, '#coderived',
               s.instrument || ' source spectrum (OGIP PHA) ' || s.file, 'application/fits',
               (cardinality(s.counts) * 8 + 12000)::bigint
          FROM xmm.spectrum s WHERE s.detid = key::bigint AND s.kind = 'source';
    ELSIF kind = 'observation' THEN
      RETURN QUERY
        SELECT one, base || '/observation/' || key || '/image.fits', NULL, NULL, '#this',
               'X-ray image of the observation (every camera, 0.2-12 keV)', 'application/fits', NULL::bigint
         WHERE EXISTS (SELECT FROM xmm.exposure e WHERE e.obs_id = key AND e.n_photons > 0)
        UNION ALL
        SELECT one, base || '/observation/' || key, NULL, NULL, '#documentation',
               'observation page: its detections and image', 'text/html', NULL::bigint
        UNION ALL
        SELECT one, base || '/spectrum/' || s.spectrum_id || '.fits', NULL, NULL, '#coderived',
               s.instrument || ' ' || s.kind || ' spectrum ' || s.file, 'application/fits', NULL::bigint
          FROM xmm.spectrum s WHERE s.obs_id = key;
    ELSE   -- spectrum
      RETURN QUERY
        SELECT one, base || '/spectrum/' || key || '.fits', NULL, NULL, '#this',
               s.instrument || ' ' || s.kind || ' spectrum (OGIP PHA) ' || s.file, 'application/fits', NULL::bigint
          FROM xmm.spectrum s WHERE s.spectrum_id = key::bigint
        UNION ALL
        SELECT one, base || '/spectrum/' || s.background_id || '.fits', NULL, NULL, '#auxiliary',
               'its background spectrum (BACKFILE)', 'application/fits', NULL::bigint
          FROM xmm.spectrum s WHERE s.spectrum_id = key::bigint AND s.background_id IS NOT NULL
        UNION ALL
        SELECT one, base || '/response/' || r.response_id || '.fits', NULL, NULL, '#calibration',
               upper(r.kind) || ' ' || r.name || CASE r.kind WHEN 'rmf' THEN ' (RESPFILE)' ELSE ' (ANCRFILE)' END,
               'application/fits', NULL::bigint
          FROM xmm.spectrum s JOIN xmm.response r ON r.response_id IN (s.rmf_id, s.arf_id)
         WHERE s.spectrum_id = key::bigint
        UNION ALL
        SELECT one, base || '/datalink?ID=ivo://xmmdb/detection?' || s.detid, NULL, NULL, '#progenitor',
               'the catalogue detection it was extracted for', dl, NULL::bigint
          FROM xmm.spectrum s WHERE s.spectrum_id = key::bigint AND s.detid IS NOT NULL;
    END IF;
  END LOOP;
END $$;

COMMENT ON FUNCTION xmm.datalink(text[]) IS
  'DataLink links of identifiers ivo://xmmdb/<source|detection|observation|spectrum>?<key> (at most 100)';
